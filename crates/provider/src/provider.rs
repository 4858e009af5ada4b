//! What a provider crate implements ([`Provider`], typed by its spec) and what the controller and the webhook
//! call ([`DynProvider`], one erased form for every provider, written once here).

use std::sync::Arc;

use async_trait::async_trait;
use external_secrets_api::{ProviderKind, SecretStoreSpec, TypedProviderSpec};

use crate::{Capabilities, ProviderError, StoreClient, StoreContext, StoreKind};

/// A kind of store backend, typed by the spec it reads (`spec.provider.<key>`).
///
/// The spec is taken out of the store once, by the contract ([`DynProvider`]), and handed in typed: a provider
/// never sees another provider's spec, nor the rest of the store beyond what [`StoreContext`] tells.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The spec this provider reads; its [`TypedProviderSpec::KIND`] is the provider this is.
    type Spec: TypedProviderSpec;

    /// What stores of this provider can do.
    fn capabilities(&self) -> Capabilities;

    /// Static validation of the configuration, without IO (used by the store controller and admission).
    fn validate_spec(&self, spec: &Self::Spec, kind: StoreKind) -> Result<(), ProviderError>;

    /// Builds a client for the store described by `spec` and `ctx`.
    async fn client(&self, spec: &Self::Spec, ctx: &StoreContext) -> Result<Arc<dyn StoreClient>, ProviderError>;
}

/// A provider with its spec type erased, as the registry holds it. Every [`Provider`] is one.
#[async_trait]
pub trait DynProvider: Send + Sync {
    /// The provider (the key under `spec.provider`) this serves.
    fn kind(&self) -> ProviderKind;

    /// What stores of this provider can do.
    fn capabilities(&self) -> Capabilities;

    /// [`Provider::validate_spec`] of this provider's part of `spec`; an error if `spec` does not configure it.
    fn validate_spec(&self, spec: &SecretStoreSpec, kind: StoreKind) -> Result<(), ProviderError>;

    /// [`Provider::client`] for the store of `ctx`; an error if its spec does not configure this provider.
    async fn client(&self, ctx: &StoreContext) -> Result<Arc<dyn StoreClient>, ProviderError>;
}

#[async_trait]
impl<P: Provider> DynProvider for P {
    fn kind(&self) -> ProviderKind {
        P::Spec::KIND
    }

    fn capabilities(&self) -> Capabilities {
        Provider::capabilities(self)
    }

    fn validate_spec(&self, spec: &SecretStoreSpec, kind: StoreKind) -> Result<(), ProviderError> {
        Provider::validate_spec(self, typed_spec::<P::Spec>(spec)?, kind)
    }

    async fn client(&self, ctx: &StoreContext) -> Result<Arc<dyn StoreClient>, ProviderError> {
        Provider::client(self, typed_spec::<P::Spec>(ctx.spec())?, ctx).await
    }
}

/// The part of `spec` a provider of `S` reads.
fn typed_spec<S: TypedProviderSpec>(spec: &SecretStoreSpec) -> Result<&S, ProviderError> {
    S::from_provider(&spec.provider)
        .ok_or_else(|| ProviderError::InvalidConfig(format!("missing store provider {}", S::KIND)))
}
