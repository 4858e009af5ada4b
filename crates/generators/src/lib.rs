//! ESO's generators (`generators.external-secrets.io/v1alpha1`): a spec in, secret data out.
//!
//! Each kind this operator runs implements [`Generator`] with its typed spec; [`generate`] dispatches over
//! [`GeneratorKind`] exhaustively, so a kind added to the API does not compile until it says whether it runs
//! here. The built-in kinds need neither credentials nor IO (`Password`, `UUID`, `Fake`, `SSHKey`). Kinds that
//! call an API with credentials are a [`CredentialedGenerator`], registered in `main` into a [`GeneratorRegistry`]:
//! `Grafana` here (it needs no provider), `ECRAuthorizationToken` and `STSSessionToken` in the AWS provider's crate
//! (sharing its credential caches), so the controller never names a cloud. A credentialed generator may return
//! state with its data (what it made at the provider, kept in a `GeneratorState`) and clean it up later
//! ([`CredentialedGenerator::generate_with_state`], [`CredentialedGenerator::cleanup`]). Every other kind is
//! [`GeneratorError::Unsupported`], named in the error.
//!
//! The controller resolves a `generatorRef` (a namespaced generator in the ExternalSecret's namespace, or a
//! `ClusterGenerator`) into a [`GeneratorKind`] and its spec in ClusterGenerator shape ([`GeneratorSpec`]) and
//! calls [`generate`]; the data then goes through `rewrite` like a provider's. Randomness comes from the
//! operating system's CSPRNG. Values are [`SecretBytes`]: their `Debug` shows only the length, and no error here
//! quotes one.

mod grafana;
mod password;
mod sshkey;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use external_secrets_api::generators::v1alpha1::{FakeSpec, GeneratorKind, GeneratorSpec, UuidSpec};
pub use external_secrets_provider::SecretBytes;
use external_secrets_provider::{CredentialResolver, ProviderError};

pub use grafana::{GrafanaGenerator, GrafanaTokenState};
pub use password::PasswordGenerator;
pub use sshkey::SshKeyGenerator;

/// What a generator produced: secret keys and their values.
pub type Generated = BTreeMap<String, SecretBytes>;

/// Why a generator produced nothing. Messages name kinds and settings, never a generated value.
#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    /// This operator does not run generators of this kind.
    #[error("generator kind {0:?} is not supported by this operator")]
    Unsupported(String),
    /// The spec cannot be satisfied (e.g. more digits than the length).
    #[error("invalid {kind} spec: {reason}")]
    InvalidSpec { kind: &'static str, reason: String },
    /// The generator failed (e.g. the key generation).
    #[error("{kind} generator failed: {reason}")]
    Failed { kind: &'static str, reason: String },
    /// A generator that calls a provider's API failed there (credentials, the call, its answer); the provider's
    /// error says what, and its category whether to retry.
    #[error("{kind} generator: {source}")]
    Provider {
        kind: &'static str,
        #[source]
        source: ProviderError,
    },
}

/// Generators of kinds that call a provider's API with credentials (ECR, STS). A provider crate implements it;
/// `main` registers it in the [`GeneratorRegistry`].
#[async_trait]
pub trait CredentialedGenerator: Send + Sync {
    /// The kinds this generator runs.
    fn kinds(&self) -> Vec<GeneratorKind>;
    /// Runs `kind` over its part of `spec` (ClusterGenerator shape). `credentials` reads the Secrets and
    /// ServiceAccounts the spec names, scoped as ESO scopes a generator: like a SecretStore in the
    /// ExternalSecret's namespace (for a ClusterGenerator too).
    async fn generate(
        &self,
        kind: GeneratorKind,
        spec: &GeneratorSpec,
        credentials: &CredentialResolver,
    ) -> Result<Generated, GeneratorError>;

    /// Runs `kind` as [`generate`](Self::generate) and also returns what it made on the provider's side (ESO's
    /// `GeneratorProviderState`), for [`cleanup`](Self::cleanup) once the value is superseded. Kinds that make
    /// nothing to clean up keep the default: no state.
    async fn generate_with_state(
        &self,
        kind: GeneratorKind,
        spec: &GeneratorSpec,
        credentials: &CredentialResolver,
    ) -> Result<(Generated, Option<GeneratorProviderState>), GeneratorError> {
        Ok((self.generate(kind, spec, credentials).await?, None))
    }

    /// Removes on the provider's side what a [`generate_with_state`](Self::generate_with_state) of `kind` made
    /// (`state`), with `spec` as it was then. What is already gone is success. The default: nothing to remove.
    async fn cleanup(
        &self,
        _kind: GeneratorKind,
        _spec: &GeneratorSpec,
        _state: &GeneratorProviderState,
        _credentials: &CredentialResolver,
    ) -> Result<(), GeneratorError> {
        Ok(())
    }
}

/// What a stateful generator made on the provider's side (e.g. the ids of a Grafana token), as the JSON ESO keeps
/// in `GeneratorState.spec.state`. Holds ids, never a secret value.
pub type GeneratorProviderState = serde_json::Value;

/// Every generator this process runs: the built-in kinds, and the credentialed ones `main` registers. Cheap to
/// clone.
#[derive(Clone, Default)]
pub struct GeneratorRegistry {
    credentialed: HashMap<GeneratorKind, Arc<dyn CredentialedGenerator>>,
}

impl fmt::Debug for GeneratorRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kinds: Vec<String> = self.credentialed.keys().map(|k| kind_name(*k)).collect();
        kinds.sort();
        f.debug_struct("GeneratorRegistry").field("credentialed", &kinds).finish()
    }
}

impl GeneratorRegistry {
    /// The built-in kinds only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a credentialed generator for the kinds it names.
    pub fn with(mut self, generator: Arc<dyn CredentialedGenerator>) -> Self {
        for kind in generator.kinds() {
            self.credentialed.insert(kind, generator.clone());
        }
        self
    }

    /// Whether this process runs generators of `kind`.
    pub fn supports(&self, kind: GeneratorKind) -> bool {
        supported(kind) || self.credentialed.contains_key(&kind)
    }

    /// Runs the generator of `kind` and returns its state too ([`CredentialedGenerator::generate_with_state`]);
    /// built-in kinds keep none.
    pub async fn generate_with_state(
        &self,
        kind: GeneratorKind,
        spec: &GeneratorSpec,
        credentials: &CredentialResolver,
    ) -> Result<(Generated, Option<GeneratorProviderState>), GeneratorError> {
        match self.credentialed.get(&kind) {
            Some(generator) => generator.generate_with_state(kind, spec, credentials).await,
            None => Ok((generate(kind, spec)?, None)),
        }
    }

    /// Removes what a generator of `kind` made ([`CredentialedGenerator::cleanup`]). Built-in kinds make nothing
    /// to remove; a kind this process does not run is [`GeneratorError::Unsupported`] (its state cannot be
    /// cleaned up here).
    pub async fn cleanup(
        &self,
        kind: GeneratorKind,
        spec: &GeneratorSpec,
        state: &GeneratorProviderState,
        credentials: &CredentialResolver,
    ) -> Result<(), GeneratorError> {
        match self.credentialed.get(&kind) {
            Some(generator) => generator.cleanup(kind, spec, state, credentials).await,
            None if supported(kind) => Ok(()),
            None => Err(GeneratorError::Unsupported(kind_name(kind))),
        }
    }

    /// Runs the generator of `kind` over its part of `spec`; `credentials` as [`CredentialedGenerator::generate`].
    pub async fn generate(
        &self,
        kind: GeneratorKind,
        spec: &GeneratorSpec,
        credentials: &CredentialResolver,
    ) -> Result<Generated, GeneratorError> {
        match self.credentialed.get(&kind) {
            Some(generator) => generator.generate(kind, spec, credentials).await,
            None => generate(kind, spec),
        }
    }
}

/// One generator kind: its typed spec and how it produces data from it.
pub trait Generator {
    /// The kind's spec (`spec` of the namespaced object, `generator.<kind>Spec` of a ClusterGenerator).
    type Spec;
    /// ESO's kind name, for messages.
    const KIND: &'static str;
    /// New data, drawn afresh on every call.
    fn generate(&self, spec: &Self::Spec) -> Result<Generated, GeneratorError>;
}

/// The `UUID` generator: one random (version 4) UUID under the key `uuid`.
#[derive(Debug, Default, Clone, Copy)]
pub struct UuidGenerator;

impl Generator for UuidGenerator {
    type Spec = UuidSpec;
    const KIND: &'static str = "UUID";
    fn generate(&self, _spec: &UuidSpec) -> Result<Generated, GeneratorError> {
        let mut bytes = [0u8; 16];
        fill_random(&mut bytes).map_err(|reason| GeneratorError::Failed { kind: Self::KIND, reason })?;
        let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
        Ok(BTreeMap::from([("uuid".to_string(), SecretBytes::from(uuid.hyphenated().to_string()))]))
    }
}

/// The `Fake` generator: its `data` map, as it is (for tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct FakeGenerator;

impl Generator for FakeGenerator {
    type Spec = FakeSpec;
    const KIND: &'static str = "Fake";
    fn generate(&self, spec: &FakeSpec) -> Result<Generated, GeneratorError> {
        Ok(spec.data.iter().map(|(k, v)| (k.clone(), SecretBytes::from(v.clone()))).collect())
    }
}

/// ESO's spelling of a kind (`GeneratorKind` serializes to it).
pub fn kind_name(kind: GeneratorKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{kind:?}"),
    }
}

/// Whether this crate runs generators of `kind` by itself (without a [`CredentialedGenerator`]).
pub fn supported(kind: GeneratorKind) -> bool {
    match kind {
        GeneratorKind::Password | GeneratorKind::Uuid | GeneratorKind::Fake | GeneratorKind::SshKey => true,
        GeneratorKind::AcrAccessToken
        | GeneratorKind::BeyondtrustWorkloadCredentialsDynamicSecret
        | GeneratorKind::CloudsmithAccessToken
        | GeneratorKind::EcrAuthorizationToken
        | GeneratorKind::GcrAccessToken
        | GeneratorKind::GithubAccessToken
        | GeneratorKind::GitlabDeployToken
        | GeneratorKind::QuayAccessToken
        | GeneratorKind::StsSessionToken
        | GeneratorKind::VaultDynamicSecret
        | GeneratorKind::Webhook
        | GeneratorKind::Grafana
        | GeneratorKind::Mfa => false,
    }
}

fn run<G: Generator>(generator: &G, spec: Option<&G::Spec>) -> Result<Generated, GeneratorError> {
    generator.generate(spec_of(G::KIND, spec)?)
}

/// The spec of `kind` in a [`GeneratorSpec`], or the error for a ClusterGenerator that does not set it.
pub fn spec_of<'a, S>(kind: &'static str, spec: Option<&'a S>) -> Result<&'a S, GeneratorError> {
    spec.ok_or_else(|| GeneratorError::InvalidSpec {
        kind,
        reason: format!("no spec for kind {kind} (a ClusterGenerator must set the spec of its kind)"),
    })
}

/// Runs the generator of `kind` over its part of `spec` (ClusterGenerator shape). A kind this operator does not
/// run is [`GeneratorError::Unsupported`].
pub fn generate(kind: GeneratorKind, spec: &GeneratorSpec) -> Result<Generated, GeneratorError> {
    match kind {
        GeneratorKind::Password => run(&PasswordGenerator, spec.password_spec.as_ref()),
        GeneratorKind::Uuid => run(&UuidGenerator, spec.uuid_spec.as_ref()),
        GeneratorKind::Fake => run(&FakeGenerator, spec.fake_spec.as_ref()),
        GeneratorKind::SshKey => run(&SshKeyGenerator, spec.ssh_key_spec.as_ref()),
        other => {
            debug_assert!(!supported(other));
            Err(GeneratorError::Unsupported(kind_name(other)))
        }
    }
}

/// The one source of randomness: the operating system's CSPRNG.
pub(crate) fn fill_random(bytes: &mut [u8]) -> Result<(), String> {
    getrandom::fill(bytes).map_err(|e| format!("no randomness from the operating system: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)]
    use super::*;

    #[test]
    fn uuid_is_a_random_version_4_uuid_under_the_key_uuid() {
        let first = UuidGenerator.generate(&UuidSpec {}).expect("uuid");
        let second = UuidGenerator.generate(&UuidSpec {}).expect("uuid");
        assert_eq!(first.keys().collect::<Vec<_>>(), ["uuid"]);
        let text = std::str::from_utf8(first["uuid"].expose()).expect("UTF-8").to_string();
        let parsed = uuid::Uuid::parse_str(&text).expect("a UUID");
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(text, parsed.hyphenated().to_string(), "lowercase, hyphenated, as Go's uuid.String()");
        assert_ne!(first["uuid"].expose(), second["uuid"].expose());
    }

    #[test]
    fn fake_returns_its_data_as_it_is() {
        let spec =
            FakeSpec { controller: None, data: BTreeMap::from([("a".into(), "1".into()), ("b".into(), "".into())]) };
        let data = FakeGenerator.generate(&spec).expect("fake");
        assert_eq!(data["a"].expose(), b"1");
        assert_eq!(data["b"].expose(), b"");
        assert_eq!(data.len(), 2);
    }

    #[test]
    fn unsupported_kinds_are_named_and_supported_ones_run() {
        let err = generate(GeneratorKind::Webhook, &GeneratorSpec::default()).expect_err("unsupported");
        assert_eq!(err.to_string(), r#"generator kind "Webhook" is not supported by this operator"#);
        let err = generate(GeneratorKind::EcrAuthorizationToken, &GeneratorSpec::default()).expect_err("unsupported");
        assert!(err.to_string().contains(r#""ECRAuthorizationToken""#), "{err}");
        let data = generate(GeneratorKind::Uuid, &GeneratorSpec { uuid_spec: Some(UuidSpec {}), ..Default::default() })
            .expect("uuid");
        assert!(data.contains_key("uuid"));
    }

    /// A credentialed generator that answers with the kind it was asked for.
    struct Echo;

    #[async_trait]
    impl CredentialedGenerator for Echo {
        fn kinds(&self) -> Vec<GeneratorKind> {
            vec![GeneratorKind::StsSessionToken]
        }
        async fn generate(
            &self,
            kind: GeneratorKind,
            _spec: &GeneratorSpec,
            _credentials: &CredentialResolver,
        ) -> Result<Generated, GeneratorError> {
            Ok(BTreeMap::from([("kind".to_string(), SecretBytes::from(kind_name(kind)))]))
        }
    }

    #[test]
    fn the_registry_runs_built_in_kinds_and_the_credentialed_ones_registered() {
        let plain = GeneratorRegistry::new();
        assert!(plain.supports(GeneratorKind::Password));
        assert!(!plain.supports(GeneratorKind::StsSessionToken));
        let registry = GeneratorRegistry::new().with(Arc::new(Echo));
        assert!(registry.supports(GeneratorKind::StsSessionToken) && registry.supports(GeneratorKind::Uuid));
        assert!(!registry.supports(GeneratorKind::EcrAuthorizationToken));
        assert_eq!(format!("{registry:?}"), r#"GeneratorRegistry { credentialed: ["STSSessionToken"] }"#);
    }

    #[test]
    fn a_cluster_generator_without_the_spec_of_its_kind_is_an_invalid_spec() {
        let err = generate(GeneratorKind::Password, &GeneratorSpec::default()).expect_err("no spec");
        assert!(err.to_string().contains("no spec for kind Password"), "{err}");
    }
}
