//! SDK clients and identities, built once and shared: one HTTP client for everything, one [`Identity`] per
//! distinct identity (base credentials + region + STS endpoint + role chain), one SDK client per identity,
//! service and endpoint. Entries unused for [`IDLE_EVICTION`] are dropped when new ones are added.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_sts::config::{Region, SharedHttpClient};
use aws_smithy_http_client::tls;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use external_secrets_provider::{CredentialResolver, ProviderError, StoreContext};

use crate::Endpoints;
use crate::config::{Retry, Service, StoreConfig};
use crate::credentials::{
    AssumeRole, BaseIdentity, Counters, Identity, IdentityKey, IdentityProvider, Source, WebIdentity,
};
use crate::read::BatchSupport;

/// Connecting to an endpoint may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Waiting for an answer may take this long.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// One call, retries included, may take this long.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);
/// Cached identities and clients not used for this long are dropped.
const IDLE_EVICTION: Duration = Duration::from_secs(2 * 3600);

/// An SDK client for one service.
#[derive(Clone)]
pub(crate) enum ServiceClient {
    SecretsManager(aws_sdk_secretsmanager::Client),
    ParameterStore(aws_sdk_ssm::Client),
}

/// What a store client is made of; cheap to clone.
#[derive(Clone)]
pub(crate) struct ClientParts {
    pub(crate) client: ServiceClient,
    pub(crate) identity: Arc<Identity>,
    pub(crate) batch: Arc<BatchSupport>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    service: Service,
    endpoint: Option<String>,
    retry: Retry,
    identity: IdentityKey,
}

/// What a refusal of the batch API is remembered for: the identity, at one service and endpoint, whatever store
/// uses it.
#[derive(Clone, PartialEq, Eq, Hash)]
struct BatchKey {
    service: Service,
    endpoint: Option<String>,
    identity: IdentityKey,
}

struct Cached<T> {
    value: T,
    last_used: Instant,
}

/// A map whose entries remember when they were last used.
struct Cache<K, V>(Mutex<HashMap<K, Cached<V>>>);

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    fn new() -> Self {
        Self(Mutex::new(HashMap::new()))
    }

    fn get(&self, key: &K) -> Option<V> {
        let mut map = self.0.lock().ok()?;
        let entry = map.get_mut(key)?;
        entry.last_used = Instant::now();
        Some(entry.value.clone())
    }

    /// Inserts `value` unless another caller was faster; returns the entry that is in the cache.
    fn insert(&self, key: K, value: V) -> V {
        let Ok(mut map) = self.0.lock() else { return value };
        map.retain(|_, entry| entry.last_used.elapsed() < IDLE_EVICTION);
        let entry = map.entry(key).or_insert_with(|| Cached { value, last_used: Instant::now() });
        entry.last_used = Instant::now();
        entry.value.clone()
    }
}

/// Everything the provider shares between stores.
pub(crate) struct Shared {
    pub(crate) endpoints: Endpoints,
    pub(crate) counters: Arc<Counters>,
    http: SharedHttpClient,
    identities: Cache<IdentityKey, Arc<Identity>>,
    clients: Cache<ClientKey, ClientParts>,
    batch_support: Cache<BatchKey, Arc<BatchSupport>>,
    /// Held while building, so that concurrent first uses of a store build its client once.
    building: tokio::sync::Mutex<()>,
}

impl Shared {
    pub(crate) fn new(endpoints: Endpoints) -> Self {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
            .build_https();
        Self {
            endpoints,
            counters: Arc::new(Counters::default()),
            http,
            identities: Cache::new(),
            clients: Cache::new(),
            batch_support: Cache::new(),
            building: tokio::sync::Mutex::new(()),
        }
    }

    /// The SDK client (and identity) for a store, built on first use.
    pub(crate) async fn client_parts(
        &self,
        config: &StoreConfig,
        base: BaseIdentity,
        ctx: &StoreContext,
    ) -> Result<ClientParts, ProviderError> {
        let identity_key = IdentityKey {
            base: base.key(),
            region: config.region.clone(),
            sts_endpoint: self.endpoints.sts.clone(),
            chain: config.roles.clone(),
        };
        let endpoint = match config.service {
            Service::SecretsManager => self.endpoints.secrets_manager.clone(),
            Service::ParameterStore => self.endpoints.ssm.clone(),
        };
        let key = ClientKey {
            service: config.service,
            endpoint: endpoint.clone(),
            retry: config.retry,
            identity: identity_key.clone(),
        };
        if let Some(parts) = self.clients.get(&key) {
            return Ok(parts);
        }
        let _building = self.building.lock().await;
        if let Some(parts) = self.clients.get(&key) {
            return Ok(parts);
        }
        let identity = self.identity(&identity_key, base, ctx.credentials()).await;
        let credentials = SharedCredentialsProvider::new(IdentityProvider(identity.clone()));
        let region = Region::new(config.region.clone());
        let client = match config.service {
            Service::SecretsManager => {
                let mut builder = aws_sdk_secretsmanager::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .region(region)
                    .http_client(self.http.clone())
                    .credentials_provider(credentials)
                    .retry_config(retry_config(config.retry))
                    .timeout_config(timeout_config());
                builder.set_endpoint_url(endpoint);
                let conf = builder.build();
                ServiceClient::SecretsManager(aws_sdk_secretsmanager::Client::from_conf(conf))
            }
            Service::ParameterStore => {
                let mut builder = aws_sdk_ssm::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .region(region)
                    .http_client(self.http.clone())
                    .credentials_provider(credentials)
                    .retry_config(retry_config(config.retry))
                    .timeout_config(timeout_config());
                builder.set_endpoint_url(endpoint);
                let conf = builder.build();
                ServiceClient::ParameterStore(aws_sdk_ssm::Client::from_conf(conf))
            }
        };
        Counters::bump(&self.counters.clients_built);
        tracing::debug!(identity = %identity.description(), service = ?config.service, "built an AWS client");
        let batch_key = BatchKey { service: config.service, endpoint: key.endpoint.clone(), identity: identity_key };
        let batch = match self.batch_support.get(&batch_key) {
            Some(batch) => batch,
            None => self.batch_support.insert(batch_key, Arc::new(BatchSupport::default())),
        };
        let parts = ClientParts { client, identity, batch };
        Ok(self.clients.insert(key, parts))
    }

    /// The identity for `key`: its base, then each role of the chain on top of the previous identity. Every
    /// level is cached, so stores that share a prefix of the chain share its credentials.
    pub(crate) async fn identity(
        &self,
        key: &IdentityKey,
        base: BaseIdentity,
        credentials: &CredentialResolver,
    ) -> Arc<Identity> {
        let mut level = IdentityKey { chain: Vec::new(), ..key.clone() };
        let mut current = match self.identities.get(&level) {
            Some(identity) => identity,
            None => {
                let source = self.base_source(&level, base, credentials).await;
                self.add_identity(level.clone(), source)
            }
        };
        for step in &key.chain {
            level.chain.push(step.clone());
            current = match self.identities.get(&level) {
                Some(identity) => identity,
                None => {
                    let signer = SharedCredentialsProvider::new(IdentityProvider(current));
                    let sts = self.sts_client(&key.region, Some(signer));
                    let source =
                        Source::AssumeRole(AssumeRole { step: step.clone(), sts, counters: self.counters.clone() });
                    self.add_identity(level.clone(), source)
                }
            };
        }
        current
    }

    fn add_identity(&self, key: IdentityKey, source: Source) -> Arc<Identity> {
        Counters::bump(&self.counters.identities_built);
        let identity = Arc::new(Identity::new(key.describe(), source));
        self.identities.insert(key, identity)
    }

    async fn base_source(&self, key: &IdentityKey, base: BaseIdentity, credentials: &CredentialResolver) -> Source {
        match base {
            BaseIdentity::Static { credentials, .. } => Source::Static(credentials),
            BaseIdentity::Default => {
                let region = Region::new(key.region.clone());
                let conf = ProviderConfig::default()
                    .with_http_client(self.http.clone())
                    .with_timeout_config(timeout_config())
                    .with_region(Some(region.clone()));
                let chain = DefaultCredentialsChain::builder().configure(conf).region(region).build().await;
                Source::Default(Box::new(chain))
            }
            BaseIdentity::WebIdentity { namespace, service_account, role_arn, audiences } => {
                Source::WebIdentity(WebIdentity {
                    credentials: credentials.clone(),
                    namespace,
                    service_account,
                    role_arn,
                    audiences,
                    sts: self.sts_client(&key.region, None),
                    counters: self.counters.clone(),
                })
            }
        }
    }

    /// An STS client in `region`, signing with `credentials` (none for AssumeRoleWithWebIdentity).
    pub(crate) fn sts_client(
        &self,
        region: &str,
        credentials: Option<SharedCredentialsProvider>,
    ) -> aws_sdk_sts::Client {
        let mut builder = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .http_client(self.http.clone())
            .retry_config(RetryConfig::standard())
            .timeout_config(timeout_config());
        builder.set_credentials_provider(credentials);
        builder.set_endpoint_url(self.endpoints.sts.clone());
        let conf = builder.build();
        Counters::bump(&self.counters.clients_built);
        aws_sdk_sts::Client::from_conf(conf)
    }
}

impl Shared {
    /// An ECR client in `region`, signing with `credentials`.
    pub(crate) fn ecr_client(&self, region: &str, credentials: SharedCredentialsProvider) -> aws_sdk_ecr::Client {
        let mut builder = aws_sdk_ecr::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .http_client(self.http.clone())
            .credentials_provider(credentials)
            .retry_config(RetryConfig::standard())
            .timeout_config(timeout_config());
        builder.set_endpoint_url(self.endpoints.ecr.clone());
        Counters::bump(&self.counters.clients_built);
        aws_sdk_ecr::Client::from_conf(builder.build())
    }
}

/// The SDK's standard retry with the store's attempts and, if asked for, a fixed wait before every retry: an
/// exponential backoff whose first step and ceiling are both that wait, without jitter.
fn retry_config(retry: Retry) -> RetryConfig {
    let config = RetryConfig::standard().with_max_attempts(retry.max_attempts.max(1));
    match retry.interval {
        Some(interval) => {
            config.with_initial_backoff(interval).with_max_backoff(interval).with_use_static_exponential_base(true)
        }
        None => config,
    }
}

fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}
