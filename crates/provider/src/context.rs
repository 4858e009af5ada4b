//! What a provider is told about the store it builds a client for.

use external_secrets_api::{SecretStoreRetrySettings, SecretStoreSpec};

use crate::StoreKind;
use crate::credentials::{CredentialResolver, StoreScope};

/// Everything a provider gets to build a client for one store, besides its own typed spec: which store it is
/// (and for whom), the store-wide settings, and a [`CredentialResolver`] — never the operator's `kube::Client`.
#[derive(Clone)]
pub struct StoreContext {
    /// The whole spec: the contract takes the provider's part out of it ([`crate::DynProvider`]); providers see
    /// only the store-wide settings.
    spec: SecretStoreSpec,
    credentials: CredentialResolver,
}

impl StoreContext {
    /// The context of the store `scope` describes, whose spec is `spec`; credentials are read with `kube` (the
    /// operator's client) within the scope's namespace rules.
    pub fn new(kube: kube::Client, scope: StoreScope, spec: SecretStoreSpec) -> Self {
        Self { spec, credentials: CredentialResolver::new(kube, scope) }
    }

    /// The store, and the ExternalSecret namespace it is used for.
    pub fn scope(&self) -> &StoreScope {
        self.credentials.scope()
    }

    /// `SecretStore` or `ClusterSecretStore`.
    pub fn kind(&self) -> StoreKind {
        self.scope().kind
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.scope().name
    }

    /// The store's own namespace (`SecretStore`); `None` for a `ClusterSecretStore`.
    pub fn namespace(&self) -> Option<&str> {
        self.scope().namespace.as_deref()
    }

    /// For a `ClusterSecretStore` used by an ExternalSecret: that ExternalSecret's namespace. `None` when the
    /// store is validated on its own.
    pub fn referent_namespace(&self) -> Option<&str> {
        self.scope().referent_namespace.as_deref()
    }

    /// The namespace a reference without `namespace` resolves to (see [`StoreScope::default_namespace`]).
    pub fn default_namespace(&self) -> Option<&str> {
        self.scope().default_namespace()
    }

    /// The store's `spec.retrySettings`.
    pub fn retry_settings(&self) -> Option<&SecretStoreRetrySettings> {
        self.spec.retry_settings.as_ref()
    }

    /// What the provider may read from the operator's cluster for this store.
    pub fn credentials(&self) -> &CredentialResolver {
        &self.credentials
    }

    /// The whole spec, for the contract's own extraction of the provider's part.
    pub(crate) fn spec(&self) -> &SecretStoreSpec {
        &self.spec
    }
}
