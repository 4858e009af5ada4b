//! The field manager name ESO writes target Secrets with.
//!
//! ESO finds the data keys, labels and annotations it wrote before through `metadata.managedFields` entries with
//! this manager name, so the name has to be exactly ESO's or keys would never be cleaned up after a migration.

use crate::hash::sha3_224_hex;

/// The prefix of every ExternalSecret field manager.
pub const FIELD_MANAGER_PREFIX: &str = "externalsecrets.external-secrets.io/";

/// The longest field manager name ESO uses as is (longer names are hashed).
pub const MAX_FIELD_MANAGER_LEN: usize = 63;

/// The field manager for the ExternalSecret `es_name`: `externalsecrets.external-secrets.io/<name>`, or, when that is
/// longer than 63 characters (names longer than 27), `externalsecrets.external-secrets.io/sha3/<sha3-224 hex of
/// name>` (ESO 0.18.1+).
pub fn field_manager(es_name: &str) -> String {
    let plain = format!("{FIELD_MANAGER_PREFIX}{es_name}");
    if plain.len() > MAX_FIELD_MANAGER_LEN {
        format!("{FIELD_MANAGER_PREFIX}sha3/{}", sha3_224_hex(es_name.as_bytes()))
    } else {
        plain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_used_as_is() {
        assert_eq!(field_manager("my-es"), "externalsecrets.external-secrets.io/my-es");
    }

    #[test]
    fn a_27_character_name_still_fits_in_63() {
        let name = "a".repeat(27);
        let manager = field_manager(&name);
        assert_eq!(manager.len(), 63);
        assert_eq!(manager, format!("externalsecrets.external-secrets.io/{name}"));
    }

    #[test]
    fn a_28_character_name_is_hashed() {
        let name = "a".repeat(28);
        assert_eq!(
            field_manager(&name),
            format!("externalsecrets.external-secrets.io/sha3/{}", sha3_224_hex(name.as_bytes()))
        );
    }

    #[test]
    fn hashed_names_have_a_fixed_length() {
        let manager = field_manager(&"x".repeat(253));
        assert_eq!(manager.len(), FIELD_MANAGER_PREFIX.len() + "sha3/".len() + 56);
    }
}
