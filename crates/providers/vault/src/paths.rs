//! Where a key lives in Vault's HTTP API: ESO's path rules for KV v1 and v2, as pure functions.

use external_secrets_api::VaultKvStoreVersion;

/// The API path (below `/v1/`) of the data of `key`, by ESO's rules: with a mount `path`, the mount (and on v2
/// `data/`) is prefixed unless `key` already starts with it; without one, `key` is taken as `<mount>/<rest>`
/// and on v2 `data/` is put after its first segment unless `key` already contains `/data/`.
pub(crate) fn data_path(mount: Option<&str>, version: VaultKvStoreVersion, key: &str) -> String {
    let v2 = version == VaultKvStoreVersion::V2;
    match mount {
        Some(mount) => {
            let mut rest = key;
            if let Some(stripped) = key.strip_prefix(&format!("{mount}/")) {
                rest = stripped;
                if v2 && let Some(stripped) = rest.strip_prefix("data/") {
                    rest = stripped;
                }
            }
            if v2 { format!("{mount}/data/{rest}") } else { format!("{mount}/{rest}") }
        }
        None if v2 && !key.contains("/data/") => match key.split_once('/') {
            Some((first, rest)) => format!("{first}/data/{rest}"),
            None => format!("{key}/data"),
        },
        None => key.to_string(),
    }
}

/// The API path of the metadata of `key` (v2) or of the folder to list (`key` ending in `/`). Without a mount
/// `path`, a v2 key must name its `data/` segment, which becomes `metadata/` (ESO refuses the rest).
pub(crate) fn metadata_path(mount: Option<&str>, version: VaultKvStoreVersion, key: &str) -> Result<String, String> {
    match (version, mount) {
        (VaultKvStoreVersion::V1, Some(mount)) => Ok(format!("{mount}/{key}")),
        (VaultKvStoreVersion::V1, None) => Ok(key.to_string()),
        (VaultKvStoreVersion::V2, Some(mount)) => Ok(format!("{mount}/metadata/{key}")),
        (VaultKvStoreVersion::V2, None) if key.contains("data") => Ok(key.replacen("/data/", "/metadata/", 1)),
        (VaultKvStoreVersion::V2, None) => Err("provided Path isn't a valid kv v2 path".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use VaultKvStoreVersion::{V1, V2};

    /// The examples of ESO's `buildPath` documentation.
    #[test]
    fn data_paths_follow_esos_examples() {
        let cases = [
            (Some("secret/path"), V2, "foo", "secret/path/data/foo"),
            (Some("secret/path"), V1, "foo", "secret/path/foo"),
            (Some("secret/path"), V2, "secret/path/foo", "secret/path/data/foo"),
            (Some("secret/path"), V2, "secret/path/data/foo", "secret/path/data/foo"),
            (Some("secret/path"), V1, "secret/path/foo", "secret/path/foo"),
            (None, V2, "secret/path/foo", "secret/data/path/foo"),
            (None, V2, "secret/path/data/foo", "secret/path/data/foo"),
            (None, V1, "secret/path/foo", "secret/path/foo"),
            (Some("secret"), V2, "app/db", "secret/data/app/db"),
        ];
        for (mount, version, key, want) in cases {
            assert_eq!(data_path(mount, version, key), want, "{mount:?} {version:?} {key}");
        }
    }

    #[test]
    fn metadata_paths_follow_eso() {
        assert_eq!(metadata_path(Some("secret"), V2, "app/db").unwrap(), "secret/metadata/app/db");
        assert_eq!(metadata_path(Some("kv"), V1, "app/").unwrap(), "kv/app/");
        assert_eq!(metadata_path(None, V2, "secret/data/app").unwrap(), "secret/metadata/app");
        assert!(metadata_path(None, V2, "secret/app").is_err());
    }
}
