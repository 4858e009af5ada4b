//! ESO's semantics as pure functions over typed inputs: no IO here.
//!
//! - [`hash`]: the `data-hash` annotation, the `created-by` label, `status.syncedResourceVersion`.
//! - [`field_manager`]: the field manager name target Secrets are written with.
//! - [`duration`]: Go duration strings (`refreshInterval`).
//! - [`keys`]: key conversion (`conversionStrategy`) and key validation.
//! - [`decode`]: `decodingStrategy` and `nullBytePolicy`.
//! - [`property`]: `remoteRef.property` selection and `extract` maps.
//! - [`ownership`]: what our field manager owns on a target Secret, and the takeover of ESO's fields.
//! - [`generic_target`]: the ConfigMap or custom resource of `spec.target.manifest`, its data hash and validity.
//! - [`refresh`]: whether to sync now and when to requeue.
//! - [`sync_window`]: `spec.syncWindows`, whether a periodic refresh may happen now.
//! - [`label_selector`]: label selectors with Kubernetes' validation rules.
//! - [`cluster_external_secret`]: ClusterExternalSecret: namespace selection, the ExternalSecret per namespace,
//!   ownership, the update patch, the status.
//! - [`fan_out`]: what ClusterExternalSecret and ClusterPushSecret share: namespace selection, ownership, the
//!   create / patch / in-sync / not-ours plan per namespace.
//! - [`cluster_push_secret`]: ClusterPushSecret: the PushSecret per namespace and the status.
//! - [`push_secret`]: PushSecret: status keys, `ReverseUnicode`, the refresh rule, the remote entries to delete.

pub mod cluster_external_secret;
pub mod cluster_push_secret;
pub mod decode;
pub mod fan_out;
pub mod field_manager;
pub mod generator_state;
pub mod generic_target;
pub mod hash;
pub mod keys;
pub mod label_selector;
pub mod ownership;
pub mod pipeline;
pub mod property;
pub mod push_secret;
pub mod redact;
pub mod refresh;
pub mod sync_window;
pub mod target;

/// Go duration strings; they are the API's format, so they live in `external-secrets-api`.
pub use external_secrets_api::duration;
/// The values stores return, as the provider contract defines them.
pub use external_secrets_provider::{RemoteValue, SecretBytes};
