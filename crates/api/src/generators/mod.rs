//! API group `generators.external-secrets.io`: generators that make secret values (passwords, registry tokens,
//! SSH keys, ...) for `dataFrom[].sourceRef.generatorRef`, and the `GeneratorState` that tracks what they made.
//!
//! Only `v1alpha1` exists (ESO 2.9.0 serves and stores it).

pub mod v1alpha1;

/// The API group of all kinds here.
pub const GROUP: &str = "generators.external-secrets.io";

/// The category every generator CRD carries besides `external-secrets` (`kubectl get external-secrets-generators`).
pub const CATEGORY: &str = "external-secrets-generators";
