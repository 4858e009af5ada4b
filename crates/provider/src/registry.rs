//! The set of providers this binary was built with.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use external_secrets_api::{ProviderKind, ProviderSelectionError, SecretStoreSpec};

use crate::{DynProvider, ProviderError, StoreClient, StoreContext};

/// `SecretStore` or `ClusterSecretStore`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StoreKind {
    SecretStore,
    ClusterSecretStore,
}

impl StoreKind {
    /// The Kubernetes kind name.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::SecretStore => "SecretStore",
            StoreKind::ClusterSecretStore => "ClusterSecretStore",
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The providers compiled into this binary, by the [`ProviderKind`] they serve.
#[derive(Clone, Default)]
pub struct ProviderRegistry {
    providers: BTreeMap<ProviderKind, Arc<dyn DynProvider>>,
}

impl ProviderRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a provider; the last one registered for a kind wins.
    pub fn with(mut self, provider: Arc<dyn DynProvider>) -> Self {
        self.providers.insert(provider.kind(), provider);
        self
    }

    /// The kinds of the registered providers, in ESO's order.
    pub fn kinds(&self) -> Vec<ProviderKind> {
        self.providers.keys().copied().collect()
    }

    /// The `spec.provider` keys of the registered providers, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.providers.keys().map(|kind| kind.key()).collect();
        names.sort_unstable();
        names
    }

    /// The provider a store spec names. A spec must name exactly one provider, and it must be one we have: a
    /// provider ESO knows that this binary lacks (or a key ESO does not know) is [`ProviderError::Unsupported`].
    pub fn for_spec(&self, spec: &SecretStoreSpec) -> Result<Arc<dyn DynProvider>, ProviderError> {
        let unsupported =
            |what: String| ProviderError::Unsupported(format!("{what} (supported: {})", self.names().join(", ")));
        match spec.provider.kind() {
            Ok(kind) => self
                .providers
                .get(&kind)
                .cloned()
                .ok_or_else(|| unsupported(format!("provider {:?} is not supported by this operator", kind.key()))),
            Err(unknown @ ProviderSelectionError::Unknown(_)) => Err(unsupported(unknown.to_string())),
            Err(e) => Err(ProviderError::InvalidConfig(e.to_string())),
        }
    }

    /// A client for the store of `ctx`, from the provider its spec names.
    pub async fn client(&self, ctx: &StoreContext) -> Result<Arc<dyn StoreClient>, ProviderError> {
        self.for_spec(ctx.spec())?.client(ctx).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use async_trait::async_trait;
    use external_secrets_api::FakeProvider as FakeSpec;

    use super::*;
    use crate::{Capabilities, ErrorCategory, Provider};

    /// A provider of `fake` stores that checks only that `data` is not empty.
    struct NonEmpty;

    #[async_trait]
    impl Provider for NonEmpty {
        type Spec = FakeSpec;
        fn capabilities(&self) -> Capabilities {
            Capabilities::ReadOnly
        }
        fn validate_spec(&self, spec: &FakeSpec, _: StoreKind) -> Result<(), ProviderError> {
            if spec.data.is_empty() { Err(ProviderError::InvalidConfig("no data".into())) } else { Ok(()) }
        }
        async fn client(&self, _: &FakeSpec, _: &StoreContext) -> Result<Arc<dyn StoreClient>, ProviderError> {
            Err(ProviderError::Internal("not in this test".into()))
        }
    }

    fn spec(provider: serde_json::Value) -> SecretStoreSpec {
        serde_json::from_value(serde_json::json!({ "provider": provider })).unwrap()
    }

    fn error(registry: &ProviderRegistry, provider: serde_json::Value) -> (ErrorCategory, String) {
        let err = registry.for_spec(&spec(provider)).err().expect("an error");
        (err.category(), err.to_string())
    }

    #[test]
    fn a_spec_is_served_by_the_provider_of_its_kind_with_its_typed_part() {
        let registry = ProviderRegistry::new().with(Arc::new(NonEmpty));
        assert_eq!(registry.kinds(), [ProviderKind::Fake]);
        assert_eq!(registry.names(), ["fake"]);
        let good = spec(serde_json::json!({"fake": {"data": [{"key": "k", "value": "v"}]}}));
        let provider = registry.for_spec(&good).unwrap();
        assert_eq!(provider.kind(), ProviderKind::Fake);
        assert_eq!(provider.capabilities(), Capabilities::ReadOnly);
        assert!(provider.validate_spec(&good, StoreKind::SecretStore).is_ok());
        let empty = spec(serde_json::json!({"fake": {"data": []}}));
        let err = provider.validate_spec(&empty, StoreKind::SecretStore).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("invalid store configuration: no data"));
        // The erased form refuses a spec of another provider rather than reading the wrong part.
        let other = spec(serde_json::json!({"kubernetes": {}}));
        let err = provider.validate_spec(&other, StoreKind::SecretStore).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("invalid store configuration: missing store provider fake"));
    }

    #[test]
    fn specs_without_exactly_one_provider_we_have_are_refused_with_the_reason() {
        let registry = ProviderRegistry::new().with(Arc::new(NonEmpty));
        assert_eq!(
            error(&registry, serde_json::json!({"gitlab": {"url": "http://gitlab"}})),
            (
                ErrorCategory::Unsupported,
                "not supported: provider \"gitlab\" is not supported by this operator (supported: fake)".to_string()
            )
        );
        assert_eq!(
            error(&registry, serde_json::json!({"vualt": {}})),
            (
                ErrorCategory::Unsupported,
                "not supported: provider \"vualt\" is not a provider ESO 2.9 knows (supported: fake)".to_string()
            )
        );
        assert_eq!(
            error(&registry, serde_json::json!({})),
            (ErrorCategory::InvalidConfig, "invalid store configuration: spec.provider names no provider".to_string())
        );
        let (category, message) = error(&registry, serde_json::json!({"fake": {"data": []}, "gitlab": {}}));
        assert_eq!(category, ErrorCategory::InvalidConfig);
        assert!(message.ends_with("must name exactly one provider, found fake, gitlab"), "{message}");
    }
}
