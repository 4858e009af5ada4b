//! external-secrets.io/v1alpha1: `PushSecret` and `ClusterPushSecret`, which ESO 2.9.0 serves and stores only at
//! this version (the ExternalSecret and SecretStore kinds left v1alpha1 in ESO 0.16).

mod push_secret;

pub use push_secret::*;

/// The version name.
pub const VERSION: &str = "v1alpha1";
