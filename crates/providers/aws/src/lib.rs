//! The `aws` provider: AWS Secrets Manager and Systems Manager Parameter Store (`spec.provider.aws` with
//! `service: SecretsManager | ParameterStore`), with ESO's identities — a ServiceAccount token exchanged through
//! STS (IRSA via TokenRequest), static keys from Secrets, the SDK default chain — and role chaining on top.
//!
//! Compared with ESO, this provider builds SDK clients and credentials once and shares them: every store with the
//! same identity uses one set of credentials, renewed shortly before they expire, so fifty ExternalSecrets on one
//! IRSA store cost one TokenRequest and one `AssumeRoleWithWebIdentity` per credential lifetime. Reads are
//! batched (`BatchGetSecretValue`: 20 per call, `GetParameters`: 10 per call), with a one-by-one fallback for
//! identities whose IAM policy does not allow the batch APIs.
//!
//! The same crate runs ESO's AWS generators (`ECRAuthorizationToken`, `STSSessionToken`) through
//! [`AwsProvider::generators`], with the same identities and caches.
//!
//! Values are returned raw: `property`, decoding and key conversion are done by `external-secrets-core`.
//! Errors are mapped by AWS error code (never by HTTP status or message text) and never contain a value.
//!
//! ESO's semantics kept on purpose (ESO v2.9.0, `providers/v1/aws`):
//! - "Not found" (which deletion policies act on) exactly where ESO says `NoSecretErr`: `GetSecretValue`'s
//!   `ResourceNotFoundException` or `InvalidParameterException` "... was marked for deletion", and SSM's
//!   `ParameterNotFound`. A secret scheduled for deletion (AWS: `InvalidRequestException`) and the tags of a
//!   missing secret (`DescribeSecret`) are errors.
//! - `find` needs `name` or `tags` (a `path` alone is an error). Secrets Manager: by name without a path,
//!   `ListSecrets` (tags as list filters) and a read of each secret, any failure failing the `find`; with a path,
//!   or by tags alone, `BatchGetSecretValue` with filters, leaving out the secrets it could not read. Parameter
//!   Store: a name reads by path (`/` when unset) and ignores the tags; tags alone use `DescribeParameters`.
//! - `retrySettings`: `maxRetries` is the number of attempts (3 when unset), `retryInterval` a fixed wait.
//! - PushSecret writes (`secrets_manager_push`, `parameter_store_push`): only what carries the tag
//!   `managed-by=external-secrets` is overwritten or deleted; a missing secret or parameter is created with it;
//!   nothing is written when the value is already there. Their module docs list the calls and what differs.
//!
//! Different on purpose: a secret listed by `find` but deleted before it is read is left out (ESO fails that
//! `dataFrom` entry, or skips all of it unless `deletionPolicy: Retain`); a call, retries included, ends after 60 s.

#![warn(missing_docs)]

mod clients;
mod config;
mod credentials;
mod error;
mod generators;
mod parameter_store;
mod parameter_store_push;
mod push;
mod read;
mod secrets_manager;
mod secrets_manager_push;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use external_secrets_api::AwsProvider as AwsSpec;
use external_secrets_provider::{
    Capabilities, FindQuery, Provider, ProviderError, RemoteKey, RemoteValue, StoreClient, StoreContext, StoreKind,
    Validation,
};

use crate::clients::{ServiceClient, Shared};
use crate::config::StoreConfig;
use crate::parameter_store::ParameterStoreClient;
use crate::secrets_manager::SecretsManagerClient;

pub use crate::config::REFUSE_DEFAULT_FLAG;
pub use crate::credentials::{AUDIENCE_ANNOTATION, DEFAULT_AUDIENCE, ROLE_ARN_ANNOTATION, SESSION_NAME};
pub use crate::generators::AwsGenerators;

/// Endpoint overrides, per service. `None` means the SDK's regional AWS endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// Secrets Manager.
    pub secrets_manager: Option<String>,
    /// Systems Manager (Parameter Store).
    pub ssm: Option<String>,
    /// STS (AssumeRole, AssumeRoleWithWebIdentity, and the `STSSessionToken` generator's GetSessionToken).
    pub sts: Option<String>,
    /// ECR (the `ECRAuthorizationToken` generator).
    pub ecr: Option<String>,
}

impl Endpoints {
    /// One endpoint for every service (a local emulator, a proxy).
    pub fn all(url: impl Into<String>) -> Self {
        let url = url.into();
        Self { secrets_manager: Some(url.clone()), ssm: Some(url.clone()), sts: Some(url.clone()), ecr: Some(url) }
    }

    /// The overrides the process environment sets: ESO's `AWS_SECRETSMANAGER_ENDPOINT`, `AWS_SSM_ENDPOINT`,
    /// `AWS_STS_ENDPOINT` and `AWS_ECR_ENDPOINT` first, then the SDK's `AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`Endpoints::from_env`], with variables looked up by `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let var = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let any = var("AWS_ENDPOINT_URL");
        let first = |names: [&str; 2]| names.into_iter().find_map(var).or_else(|| any.clone());
        Self {
            secrets_manager: first(["AWS_SECRETSMANAGER_ENDPOINT", "AWS_ENDPOINT_URL_SECRETS_MANAGER"]),
            ssm: first(["AWS_SSM_ENDPOINT", "AWS_ENDPOINT_URL_SSM"]),
            sts: first(["AWS_STS_ENDPOINT", "AWS_ENDPOINT_URL_STS"]),
            ecr: first(["AWS_ECR_ENDPOINT", "AWS_ENDPOINT_URL_ECR"]),
        }
    }
}

/// Counts of the expensive things the provider did since it was created (for tests and metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AwsStats {
    /// Kubernetes TokenRequests for ServiceAccount tokens (IRSA).
    pub token_requests: u64,
    /// STS calls: `AssumeRoleWithWebIdentity` and `AssumeRole` (one per call, SDK retries not counted).
    pub sts_calls: u64,
    /// SDK clients built (Secrets Manager, SSM and STS).
    pub clients_built: u64,
    /// Distinct identities (credential caches) built: one per base identity and per role of a chain.
    pub identities_built: u64,
}

/// The `aws` provider (Secrets Manager and Parameter Store). Cheap to share; it owns the caches of SDK clients
/// and credentials, so one instance should serve the whole process.
pub struct AwsProvider {
    shared: Arc<Shared>,
    refuse_default_for_namespaced: bool,
}

impl AwsProvider {
    /// A provider whose endpoint overrides come from the environment (read once, now): see
    /// [`Endpoints::from_env`].
    pub fn new() -> Self {
        Self::with_endpoints(Endpoints::from_env())
    }

    /// A provider with explicit endpoint overrides (tests, emulators).
    pub fn with_endpoints(endpoints: Endpoints) -> Self {
        Self { shared: Arc::new(Shared::new(endpoints)), refuse_default_for_namespaced: false }
    }

    /// With `refuse` set, a namespaced `SecretStore` without `auth` is refused (a `Ready=False` condition naming
    /// [`REFUSE_DEFAULT_FLAG`]) instead of using the operator's own default credential chain.
    pub fn refusing_default_credentials_for_namespaced_stores(mut self, refuse: bool) -> Self {
        self.refuse_default_for_namespaced = refuse;
        self
    }

    /// The endpoint overrides in use.
    pub fn endpoints(&self) -> &Endpoints {
        &self.shared.endpoints
    }

    /// The `ECRAuthorizationToken` and `STSSessionToken` generators, sharing this provider's clients and
    /// credential caches.
    pub fn generators(&self) -> AwsGenerators {
        AwsGenerators::new(self.shared.clone())
    }

    /// What the provider has done so far.
    pub fn stats(&self) -> AwsStats {
        let c = &self.shared.counters;
        AwsStats {
            token_requests: c.token_requests.load(Ordering::Relaxed),
            sts_calls: c.sts_calls.load(Ordering::Relaxed),
            clients_built: c.clients_built.load(Ordering::Relaxed),
            identities_built: c.identities_built.load(Ordering::Relaxed),
        }
    }
}

impl Default for AwsProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for AwsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsProvider").field("endpoints", self.endpoints()).field("stats", &self.stats()).finish()
    }
}

#[async_trait]
impl Provider for AwsProvider {
    type Spec = AwsSpec;

    fn capabilities(&self) -> Capabilities {
        Capabilities::ReadWrite
    }

    fn validate_spec(&self, spec: &AwsSpec, _kind: StoreKind) -> Result<(), ProviderError> {
        config::validate(spec)
    }

    async fn client(&self, spec: &AwsSpec, ctx: &StoreContext) -> Result<Arc<dyn StoreClient>, ProviderError> {
        let config = StoreConfig::new(spec, ctx)?;
        config::check_default_chain(&config.auth, ctx.kind(), self.refuse_default_for_namespaced)?;
        if ctx.kind() == StoreKind::ClusterSecretStore
            && ctx.referent_namespace().is_none()
            && config.auth.has_referent_refs()
        {
            return Ok(Arc::new(ReferentClient { store: ctx.name().to_string() }));
        }
        let base = credentials::resolve_base(&config.auth, ctx.credentials()).await?;
        let parts = self.shared.client_parts(&config, base, ctx).await?;
        let prefix = config.prefix;
        Ok(match parts.client {
            ServiceClient::SecretsManager(sm) => {
                let deletion = secrets_manager_push::DeletionSettings {
                    force_delete_without_recovery: spec
                        .secrets_manager
                        .as_ref()
                        .is_some_and(|s| s.force_delete_without_recovery),
                    recovery_window_in_days: spec.secrets_manager.as_ref().and_then(|s| s.recovery_window_in_days),
                };
                Arc::new(SecretsManagerClient { sm, prefix, identity: parts.identity, batch: parts.batch, deletion })
            }
            ServiceClient::ParameterStore(ssm) => {
                Arc::new(ParameterStoreClient { ssm, prefix, identity: parts.identity, batch: parts.batch })
            }
        })
    }
}

/// The client of a ClusterSecretStore with referent authentication built without an ExternalSecret's
/// namespace (store validation): it cannot tell whether the store works, and cannot read.
struct ReferentClient {
    store: String,
}

impl ReferentClient {
    fn refuse(&self) -> ProviderError {
        ProviderError::InvalidConfig(format!(
            "ClusterSecretStore {:?} uses referent authentication: it reads only on behalf of an ExternalSecret's \
             namespace",
            self.store
        ))
    }
}

#[async_trait]
impl StoreClient for ReferentClient {
    async fn get(&self, _key: &RemoteKey) -> Result<RemoteValue, ProviderError> {
        Err(self.refuse())
    }

    async fn find(&self, _query: &FindQuery) -> Result<BTreeMap<String, RemoteValue>, ProviderError> {
        Err(self.refuse())
    }

    async fn validate(&self) -> Result<Validation, ProviderError> {
        Ok(Validation::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use external_secrets_provider::{DynProvider, ProviderKind};

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn eso_endpoint_variables_win_over_the_sdk_ones() {
        let endpoints = Endpoints::from_lookup(lookup(&[
            ("AWS_ENDPOINT_URL", "http://all"),
            ("AWS_SECRETSMANAGER_ENDPOINT", "http://sm"),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://sdk-sm"),
            ("AWS_ENDPOINT_URL_SSM", "http://sdk-ssm"),
        ]));
        assert_eq!(endpoints.secrets_manager.as_deref(), Some("http://sm"));
        assert_eq!(endpoints.ssm.as_deref(), Some("http://sdk-ssm"));
        assert_eq!(endpoints.sts.as_deref(), Some("http://all"));
    }

    #[test]
    fn no_variables_mean_aws_itself() {
        assert_eq!(Endpoints::from_lookup(lookup(&[("AWS_SSM_ENDPOINT", "  ")])), Endpoints::default());
        assert_eq!(Endpoints::all("http://x").sts.as_deref(), Some("http://x"));
    }

    #[test]
    fn the_provider_is_aws_and_read_write() {
        let provider = AwsProvider::with_endpoints(Endpoints::default());
        assert_eq!(DynProvider::kind(&provider), ProviderKind::Aws);
        assert_eq!(DynProvider::capabilities(&provider), Capabilities::ReadWrite);
        assert_eq!(provider.stats(), AwsStats::default());
    }
}
