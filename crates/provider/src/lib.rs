//! The provider contract.
//!
//! - A provider crate implements [`Provider`]: typed by its spec (`spec.provider.<key>`, a
//!   [`TypedProviderSpec`] of `external-secrets-api`), it checks that spec and turns it into a [`StoreClient`].
//!   The registry holds providers as [`DynProvider`], by [`ProviderKind`]; the spec is taken out of the store once,
//!   here, never by a provider.
//! - A provider is told about its store through a [`StoreContext`], and reads the operator's cluster only through
//!   its [`CredentialResolver`] (a key of a Secret or ConfigMap, a ServiceAccount, a ServiceAccount token), which
//!   applies ESO's namespace rules itself: no provider holds the operator's `kube::Client`.
//! - A store client answers *what to fetch* requests ([`RemoteKey`], [`FindQuery`]) with raw [`RemoteValue`]s.
//!   Everything ESO does with a value afterwards (`property` selection, decoding, key conversion, templating)
//!   happens in `external-secrets-core`, so that the same remote key wanted by many ExternalSecrets is one request,
//!   and a client can answer many keys in one batched call. These types are defined here, not in core, so that a
//!   provider crate builds without the core semantics and the template engine.
//! - Writes (PushSecret) go through [`StoreClient::push_secret`], [`StoreClient::delete_secret`] and
//!   [`StoreClient::secret_exists`], shaped after ESO's `SecretsClient`; a provider that does not write keeps their
//!   defaults, which refuse with [`ProviderError::Unsupported`] (never a silent success).

pub mod api_calls;
mod context;
mod credentials;
mod error;
pub mod names;
mod provider;
mod push;
mod registry;
mod request;
mod shared;
mod value;

pub use api_calls::ObserveApiCall;
pub use context::StoreContext;
pub use credentials::{
    CredentialError, CredentialErrorKind, CredentialResolver, SecretObject, ServiceAccountInfo, ServiceAccountToken,
    StoreScope,
};
pub use error::{ErrorCategory, ProviderError, error_chain};
pub use external_secrets_api::ProviderKind;
pub use external_secrets_api::TypedProviderSpec;
pub use provider::{DynProvider, Provider};
pub use push::{
    PUSH_METADATA_API_VERSION, PUSH_METADATA_KIND, PushRemoteRef, PushSecretData, PushSource, parse_push_metadata,
};
pub use registry::{ProviderRegistry, StoreKind};
pub use request::{FindQuery, MetadataPolicy, RemoteKey};
pub use shared::SharedClient;
pub use value::{RemoteValue, SecretBytes};

use std::collections::BTreeMap;

use async_trait::async_trait;

/// What a store can do, as shown in the `CAPABILITIES` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capabilities {
    ReadOnly,
    WriteOnly,
    ReadWrite,
}

impl Capabilities {
    /// The ESO spelling used in `status.capabilities`.
    pub fn as_str(self) -> &'static str {
        match self {
            Capabilities::ReadOnly => "ReadOnly",
            Capabilities::WriteOnly => "WriteOnly",
            Capabilities::ReadWrite => "ReadWrite",
        }
    }
}

/// The outcome of a store validation that did not fail outright.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validation {
    /// The store works (ESO reason `Valid`).
    Ready,
    /// Validation could not tell (ESO reason `ValidationUnknown`), e.g. referent authentication.
    Unknown,
}

/// A client for one store, with the identity that store configures.
///
/// Implementations are cheap to share (`Arc<dyn StoreClient>`) and are reused across reconciles until the
/// store changes; they must never put a secret value into an error, a log line or a `Debug` string.
#[async_trait]
pub trait StoreClient: Send + Sync {
    /// Reads every key, one result per key in the same order. Providers batch where their API allows it; the
    /// default reads them one by one with [`StoreClient::get`].
    async fn get_many(&self, keys: &[RemoteKey]) -> Vec<Result<RemoteValue, ProviderError>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.get(key).await);
        }
        out
    }

    /// Reads one key. [`ProviderError::NotFound`] only when the store said so for real.
    async fn get(&self, key: &RemoteKey) -> Result<RemoteValue, ProviderError>;

    /// Lists and reads the secrets a `find` selects, keyed by their remote names.
    async fn find(&self, query: &FindQuery) -> Result<BTreeMap<String, RemoteValue>, ProviderError>;

    /// Checks that the store can be used (credentials resolve, endpoint answers).
    async fn validate(&self) -> Result<Validation, ProviderError>;

    /// Writes one value of `source` to the store, as `data` says (ESO's `SecretsClient.PushSecret`): the value
    /// of `data.secret_key` (or the whole Secret when it is unset, encoded as the provider's ESO counterpart does)
    /// at `data.remote_ref` — the whole remote secret, or only its `property`, keeping the others. A provider
    /// creates the remote secret if needed, and refuses to overwrite one it does not manage (ESO's providers mark
    /// theirs, e.g. AWS's `managed-by: external-secrets` tag). Writing what is already there should cost no
    /// write. Errors never contain the value.
    ///
    /// The default refuses with [`ProviderError::Unsupported`]: providers that cannot write keep it.
    async fn push_secret(&self, source: &PushSource, data: &PushSecretData) -> Result<(), ProviderError> {
        let _ = (source, data);
        Err(ProviderError::Unsupported("PushSecret is not supported by this provider".to_string()))
    }

    /// Deletes what a push wrote at `remote_ref` (ESO's `SecretsClient.DeleteSecret`, for a PushSecret's
    /// `deletionPolicy: Delete`): the remote secret, or only its `property`. A remote secret that is already gone
    /// is success; one the provider does not manage is left alone.
    ///
    /// The default refuses with [`ProviderError::Unsupported`].
    async fn delete_secret(&self, remote_ref: &PushRemoteRef) -> Result<(), ProviderError> {
        let _ = remote_ref;
        Err(ProviderError::Unsupported("DeleteSecret is not supported by this provider".to_string()))
    }

    /// Whether something exists at `remote_ref` (ESO's `SecretsClient.SecretExists`, for a PushSecret's
    /// `updatePolicy: IfNotExists`). "Not found" is `Ok(false)`, not an error.
    ///
    /// The default refuses with [`ProviderError::Unsupported`].
    async fn secret_exists(&self, remote_ref: &PushRemoteRef) -> Result<bool, ProviderError> {
        let _ = remote_ref;
        Err(ProviderError::Unsupported("SecretExists is not supported by this provider".to_string()))
    }
}
