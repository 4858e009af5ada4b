//! The `SSHKey` generator, with ESO's output: `privateKey` in OpenSSH's private key format (PEM
//! `OPENSSH PRIVATE KEY`, unencrypted, the comment inside) and `publicKey` in `authorized_keys` form
//! (`<algorithm> <base64>[ <comment>]\n`).
//!
//! Key types as ESO: `rsa` (`keySize` bits, 2048 unless set), `ed25519` (`keySize` ignored) and `ecdsa` (P-256,
//! P-384 or P-521 by `keySize`; any other size is P-256).

use std::collections::BTreeMap;

use external_secrets_api::generators::v1alpha1::{SshKeySpec, SshKeyType};
use ssh_key::private::{EcdsaKeypair, Ed25519Keypair, KeypairData, RsaKeypair};
use ssh_key::{EcdsaCurve, LineEnding, PrivateKey};

use crate::{Generated, Generator, GeneratorError, SecretBytes};

/// ESO's RSA key size.
pub const DEFAULT_RSA_BITS: usize = 2048;

/// The `SSHKey` generator.
#[derive(Debug, Default, Clone, Copy)]
pub struct SshKeyGenerator;

fn failed(reason: impl std::fmt::Display) -> GeneratorError {
    GeneratorError::Failed { kind: SshKeyGenerator::KIND, reason: format!("unable to generate SSH key: {reason}") }
}

impl Generator for SshKeyGenerator {
    type Spec = SshKeySpec;
    const KIND: &'static str = "SSHKey";

    fn generate(&self, spec: &SshKeySpec) -> Result<Generated, GeneratorError> {
        // The OS source cannot fail on the platforms we build for; if it did, this would panic inside key
        // generation, which the reconcile isolates (nothing is written).
        let mut rng = getrandom::rand_core::UnwrapErr(getrandom::SysRng);
        let keypair = match spec.key_type {
            SshKeyType::Rsa => {
                let bits = match spec.key_size {
                    Some(bits) => usize::try_from(bits).map_err(|_| failed(format!("invalid RSA key size {bits}")))?,
                    None => DEFAULT_RSA_BITS,
                };
                KeypairData::from(RsaKeypair::random(&mut rng, bits).map_err(failed)?)
            }
            SshKeyType::Ed25519 => KeypairData::from(Ed25519Keypair::random(&mut rng)),
            SshKeyType::Ecdsa => {
                let curve = match spec.key_size {
                    Some(384) => EcdsaCurve::NistP384,
                    Some(521) => EcdsaCurve::NistP521,
                    _ => EcdsaCurve::NistP256,
                };
                KeypairData::from(EcdsaKeypair::random(&mut rng, curve).map_err(failed)?)
            }
        };
        let comment = spec.comment.clone().unwrap_or_default();
        let private = PrivateKey::new(keypair, comment.as_str()).map_err(failed)?;
        let private_pem = private.to_openssh(LineEnding::LF).map_err(failed)?;
        // The public key without its comment, then ESO's " <comment>" and newline.
        let mut public = private.public_key().clone();
        public.set_comment("");
        let mut authorized = public.to_openssh().map_err(failed)?;
        if !comment.is_empty() {
            authorized.push(' ');
            authorized.push_str(&comment);
        }
        authorized.push('\n');
        Ok(BTreeMap::from([
            ("privateKey".to_string(), SecretBytes::new(private_pem.as_bytes().to_vec())),
            ("publicKey".to_string(), SecretBytes::new(authorized.into_bytes())),
        ]))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)]
    use super::*;
    use ssh_key::{Algorithm, PublicKey};

    fn generate(json: serde_json::Value) -> (PrivateKey, String, String) {
        let spec: SshKeySpec = serde_json::from_value(json).expect("SSHKey spec");
        let data = SshKeyGenerator.generate(&spec).expect("generate");
        assert_eq!(data.keys().collect::<Vec<_>>(), ["privateKey", "publicKey"]);
        let pem = String::from_utf8(data["privateKey"].expose().to_vec()).expect("UTF-8");
        let public = String::from_utf8(data["publicKey"].expose().to_vec()).expect("UTF-8");
        let private = PrivateKey::from_openssh(&pem).expect("the private key parses back");
        (private, pem, public)
    }

    #[test]
    fn rsa_by_default_with_2048_bits_and_a_matching_public_key() {
        let (private, pem, public) = generate(serde_json::json!({}));
        assert!(pem.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"), "{}", &pem[..40]);
        assert!(matches!(private.algorithm(), Algorithm::Rsa { .. }));
        let KeypairData::Rsa(rsa) = private.key_data() else { panic!("an RSA key") };
        assert_eq!(rsa.key_size(), 2048);
        assert!(public.starts_with("ssh-rsa ") && public.ends_with('\n'), "{public}");
        assert_eq!(public.trim_end().split(' ').count(), 2, "no comment: {public}");
        let parsed = PublicKey::from_openssh(public.trim_end()).expect("public key parses");
        assert_eq!(parsed.key_data(), private.public_key().key_data(), "public key matches the private key");
    }

    #[test]
    fn ed25519_with_its_comment_in_both_keys() {
        let (private, _, public) =
            generate(serde_json::json!({"keyType": "ed25519", "comment": "deploy@example", "keySize": 4096}));
        assert_eq!(private.algorithm(), Algorithm::Ed25519);
        assert_eq!(private.comment().as_bytes(), b"deploy@example");
        assert!(public.starts_with("ssh-ed25519 ") && public.ends_with(" deploy@example\n"), "{public}");
        let parsed = PublicKey::from_openssh(public.trim_end()).expect("public key parses");
        assert_eq!(parsed.key_data(), private.public_key().key_data());
        assert_eq!(parsed.comment().as_bytes(), b"deploy@example");
    }

    #[test]
    fn rsa_key_size_and_ecdsa_curves_follow_key_size() {
        let (private, _, _) = generate(serde_json::json!({"keyType": "rsa", "keySize": 3072}));
        let KeypairData::Rsa(rsa) = private.key_data() else { panic!("an RSA key") };
        assert_eq!(rsa.key_size(), 3072);
        for (size, curve) in [
            (256, EcdsaCurve::NistP256),
            (384, EcdsaCurve::NistP384),
            (521, EcdsaCurve::NistP521),
            (1000, EcdsaCurve::NistP256),
        ] {
            let (private, _, public) = generate(serde_json::json!({"keyType": "ecdsa", "keySize": size}));
            assert_eq!(private.algorithm(), Algorithm::Ecdsa { curve }, "keySize {size}");
            assert!(public.starts_with("ecdsa-sha2-nistp"), "{public}");
        }
    }

    #[test]
    fn two_draws_differ() {
        let (a, _, _) = generate(serde_json::json!({"keyType": "ed25519"}));
        let (b, _, _) = generate(serde_json::json!({"keyType": "ed25519"}));
        assert_ne!(a.public_key().key_data(), b.public_key().key_data());
    }
}
