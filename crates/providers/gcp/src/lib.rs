//! The `gcpsm` provider (`spec.provider.gcpsm`): Google Cloud Secret Manager, over its documented REST API
//! (`secretmanager.googleapis.com/v1`) with reqwest and rustls — see docs/development.md for why not the
//! generated Google crates.
//!
//! What a store client answers, as ESO 2.9's provider does:
//!
//! - `get`: `key` is the secret id in `projectID` (in `location` through its regional endpoint
//!   `secretmanager.<location>.rep.googleapis.com`); `version` is `latest` (unset) or a version number or alias.
//!   The value is the payload as stored; `property` (gjson) is selected in `external-secrets-core`. With
//!   `secretVersionSelectionPolicy: LatestOrFetch`, a disabled or destroyed `latest` falls back to the newest
//!   enabled version.
//! - `metadataPolicy: Fetch`: `{"annotations": {...}, "labels": {...}}` of the secret; `property` `labels`,
//!   `annotations`, `labels.<k>`, `annotations.<k>` select one.
//! - `find`: lists the project's (or location's) secrets — every page — by `name.regexp` (with `path` as a
//!   `name:` filter and a prefix) or by `tags` (`labels.<k>=<v>` filters), reading `latest` of each.
//! - PushSecret: creates the secret labelled `managed-by: external-secrets` (replication and topics from the
//!   `PushSecretMetadata`), syncs labels and annotations, adds a version only when the value changed, and
//!   deletes only secrets carrying that label.
//! - Errors: only Secret Manager's 404 of a secret or version is [`ProviderError::NotFound`]; 401 `Auth`, 403
//!   `Denied`, 429 `Throttled`, 5xx `Unavailable`. No token or value is ever in an error or a log line.
//!
//! Auth (see [`auth`]): `secretRef` (a service-account key), `workloadIdentity` (GKE: a TokenRequest token
//! exchanged at Google's STS, then `generateAccessToken` for the bound Google service account), or none (the
//! pod's default credentials). Access tokens are cached per identity until shortly before they expire, shared
//! by every store of that identity. `workloadIdentityFederation` is refused as not supported.

mod auth;
mod client;
mod http;
mod push;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use external_secrets_api::{GCPSM_LATEST_OR_FAIL, GCPSM_LATEST_OR_FETCH, GcpsmProvider as GcpsmSpec};
use external_secrets_provider::{Capabilities, Provider, ProviderError, StoreClient, StoreContext, StoreKind};

use crate::auth::{GCP_SA_ANNOTATION, Identity, ServiceAccountKey, TokenCache, TokenSource, WorkloadIdentity};
use crate::client::{Access, GcpStoreClient, Place, Session};
use crate::http::Http;

/// The Google endpoints the provider calls. [`Endpoints::default`] is Google's; tests point them at a local
/// fake of Google's API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// Secret Manager's global endpoint.
    pub secret_manager: String,
    /// Secret Manager's regional endpoint, `{location}` standing for the store's `location`.
    pub secret_manager_regional: String,
    /// Google's STS identity-binding token endpoint (GKE workload identity).
    pub identity_binding_token: String,
    /// IAM Service Account Credentials (`generateAccessToken`).
    pub iam_credentials: String,
    /// The metadata server (the pod's default credentials).
    pub metadata: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        // Go's metadata client honours GCE_METADATA_HOST; so do we.
        let metadata_host = std::env::var("GCE_METADATA_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "metadata.google.internal".to_string());
        Self {
            secret_manager: "https://secretmanager.googleapis.com".to_string(),
            secret_manager_regional: "https://secretmanager.{location}.rep.googleapis.com".to_string(),
            identity_binding_token: "https://securetoken.googleapis.com/v1/identitybindingtoken".to_string(),
            iam_credentials: "https://iamcredentials.googleapis.com".to_string(),
            metadata: format!("http://{metadata_host}"),
        }
    }
}

/// The `gcpsm` provider. Holds the access tokens of every identity its stores use.
pub struct GcpProvider {
    endpoints: Arc<Endpoints>,
    /// The key file of the pod's default credentials (`GOOGLE_APPLICATION_CREDENTIALS`).
    default_key_file: Option<PathBuf>,
    tokens: Arc<TokenCache>,
}

impl std::fmt::Debug for GcpProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcpProvider").field("endpoints", &self.endpoints).finish_non_exhaustive()
    }
}

impl Default for GcpProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl GcpProvider {
    /// The provider with Google's endpoints and the process's `GOOGLE_APPLICATION_CREDENTIALS`.
    pub fn new() -> Self {
        let default_key_file = std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS").filter(|p| !p.is_empty());
        Self::with_endpoints(Endpoints::default(), default_key_file.map(PathBuf::from))
    }

    /// The provider calling `endpoints`, with `default_key_file` as the default credentials' key file.
    pub fn with_endpoints(endpoints: Endpoints, default_key_file: Option<PathBuf>) -> Self {
        Self { endpoints: Arc::new(endpoints), default_key_file, tokens: Arc::default() }
    }

    /// Where a store's secrets live.
    fn place(&self, project: &str, location: Option<&str>) -> Place {
        match location {
            Some(location) => Place {
                base: self.endpoints.secret_manager_regional.replace("{location}", location),
                parent: format!("projects/{project}/locations/{location}"),
                location: Some(location.to_string()),
            },
            None => Place {
                base: self.endpoints.secret_manager.clone(),
                parent: format!("projects/{project}"),
                location: None,
            },
        }
    }

    /// The identity the store's `auth` names, resolved (key read, ServiceAccount read).
    async fn identity(&self, spec: &GcpsmSpec, project: &str, ctx: &StoreContext) -> Result<Identity, ProviderError> {
        let auth = &spec.auth;
        if let Some(secret_ref) = &auth.secret_ref {
            let key = ctx
                .credentials()
                .secret_key(&secret_ref.secret_access_key_secret_ref)
                .await
                .map_err(|e| ProviderError::from(e.context("auth.secretRef")))?;
            return Ok(Identity::Key(ServiceAccountKey::parse(key.expose())?));
        }
        if let Some(workload) = &auth.workload_identity {
            let cluster_project = workload.cluster_project_id.as_deref().filter(|p| !p.is_empty()).unwrap_or(project);
            let required = |value: &Option<String>, field: &str| {
                value.clone().filter(|v| !v.is_empty()).ok_or_else(|| {
                    ProviderError::InvalidConfig(format!(
                        "auth.workloadIdentity.{field} must be set (this operator does not ask the metadata server)"
                    ))
                })
            };
            let location = required(&workload.cluster_location, "clusterLocation")?;
            let cluster = required(&workload.cluster_name, "clusterName")?;
            let account = ctx
                .credentials()
                .service_account(&workload.service_account_ref)
                .await
                .map_err(|e| ProviderError::from(e.context("auth.workloadIdentity")))?;
            let (identity_pool, identity_provider) =
                WorkloadIdentity::pool_and_provider(cluster_project, &location, &cluster);
            let mut service_account = workload.service_account_ref.clone();
            service_account.namespace = Some(account.namespace.clone());
            let identity = WorkloadIdentity {
                service_account,
                identity_pool,
                identity_provider,
                gcp_service_account: account.annotations.get(GCP_SA_ANNOTATION).cloned().filter(|a| !a.is_empty()),
            };
            return Ok(Identity::Workload(identity, ctx.credentials().clone()));
        }
        if auth.workload_identity_federation.is_some() {
            return Err(ProviderError::Unsupported(
                "auth.workloadIdentityFederation is not supported by this operator yet".to_string(),
            ));
        }
        match &self.default_key_file {
            Some(path) => {
                let json = tokio::fs::read(path).await.map_err(|e| {
                    ProviderError::InvalidConfig(format!(
                        "reading GOOGLE_APPLICATION_CREDENTIALS {}: {}",
                        path.display(),
                        e.kind()
                    ))
                })?;
                Ok(Identity::Key(ServiceAccountKey::parse(&json)?))
            }
            None => Ok(Identity::Metadata),
        }
    }
}

/// ESO's `isReferentSpec`: a reference without a namespace, resolved in each ExternalSecret's namespace.
fn is_referent(spec: &GcpsmSpec) -> bool {
    spec.auth.secret_ref.as_ref().is_some_and(|s| s.secret_access_key_secret_ref.namespace.is_none())
        || spec.auth.workload_identity.as_ref().is_some_and(|w| w.service_account_ref.namespace.is_none())
}

/// `projectID`, or the workload identity's `clusterProjectID` (ESO's `clusterProjectID`).
fn project_of(spec: &GcpsmSpec) -> Option<&str> {
    spec.project_id.as_deref().filter(|p| !p.is_empty()).or_else(|| {
        spec.auth.workload_identity.as_ref().and_then(|w| w.cluster_project_id.as_deref()).filter(|p| !p.is_empty())
    })
}

/// A project id or location as one path segment (Google's ids: letters, digits, `-`, and `.`/`:` in
/// domain-scoped projects).
fn check_segment(value: &str, field: &str) -> Result<(), ProviderError> {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:_".contains(&b)) {
        Ok(())
    } else {
        Err(ProviderError::InvalidConfig(format!("{field} {value:?} is not a valid Google Cloud id")))
    }
}

#[async_trait]
impl Provider for GcpProvider {
    type Spec = GcpsmSpec;

    /// `ReadWrite`, as ESO reports it.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ReadWrite
    }

    /// ESO's admission checks (the references are well formed) plus what the paths need: `projectID` and
    /// `location` are plain ids, the version policy one of ESO's two.
    fn validate_spec(&self, spec: &GcpsmSpec, _kind: StoreKind) -> Result<(), ProviderError> {
        let invalid = |why: String| Err(ProviderError::InvalidConfig(why));
        if let Some(project) = spec.project_id.as_deref().filter(|p| !p.is_empty()) {
            check_segment(project, "projectID")?;
        }
        if let Some(location) = spec.location.as_deref().filter(|l| !l.is_empty()) {
            check_segment(location, "location")?;
        }
        let policy = spec.secret_version_selection_policy.as_str();
        if !(policy.is_empty() || policy == GCPSM_LATEST_OR_FAIL || policy == GCPSM_LATEST_OR_FETCH) {
            return invalid(format!("secretVersionSelectionPolicy {policy:?} is not LatestOrFail or LatestOrFetch"));
        }
        if let Some(secret_ref) = &spec.auth.secret_ref
            && secret_ref.secret_access_key_secret_ref.name.is_empty()
        {
            return invalid("invalid auth secret data: auth.secretRef.secretAccessKeySecretRef has no name".into());
        }
        if let Some(workload) = &spec.auth.workload_identity
            && workload.service_account_ref.name.is_empty()
        {
            return invalid("invalid workload identity service account reference: no name".into());
        }
        Ok(())
    }

    async fn client(&self, spec: &GcpsmSpec, ctx: &StoreContext) -> Result<Arc<dyn StoreClient>, ProviderError> {
        self.validate_spec(spec, ctx.kind())?;
        let project = project_of(spec)
            .ok_or_else(|| ProviderError::InvalidConfig("unable to find ProjectID in storeSpec".to_string()))?
            .to_string();
        check_segment(&project, "projectID")?;
        if ctx.kind() == StoreKind::ClusterSecretStore && ctx.referent_namespace().is_none() && is_referent(spec) {
            return Ok(Arc::new(GcpStoreClient { access: Access::Deferred }));
        }
        let identity = self.identity(spec, &project, ctx).await?;
        let http = Http::new()?;
        let tokens =
            TokenSource { identity, cache: self.tokens.clone(), http: http.clone(), endpoints: self.endpoints.clone() };
        // Get a token now (from the cache when fresh), so that a wrong credential shows on the store's status.
        tokens.token().await?;
        let location = spec.location.as_deref().filter(|l| !l.is_empty());
        let session = Session {
            http,
            tokens,
            place: self.place(&project, location),
            latest_or_fetch: spec.secret_version_selection_policy == GCPSM_LATEST_OR_FETCH,
        };
        tracing::debug!(
            kind = %ctx.kind(),
            store = ctx.name(),
            namespace = ctx.namespace().unwrap_or_default(),
            project = %project,
            location = location.unwrap_or_default(),
            "built a gcpsm store client"
        );
        Ok(Arc::new(GcpStoreClient { access: Access::Ready(Box::new(session)) }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec(value: serde_json::Value) -> GcpsmSpec {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn admission_checks_the_references_and_ids() {
        let provider = GcpProvider::with_endpoints(Endpoints::default(), None);
        let key = serde_json::json!({"secretRef": {"secretAccessKeySecretRef": {"name": "gcp", "key": "sa.json"}}});
        let ok = spec(serde_json::json!({"projectID": "my-proj", "auth": key}));
        assert!(provider.validate_spec(&ok, StoreKind::SecretStore).is_ok());
        assert_eq!(ok.secret_version_selection_policy, "LatestOrFail", "ESO's default");
        let no_name = spec(
            serde_json::json!({"projectID": "p", "auth": {"secretRef": {"secretAccessKeySecretRef": {"key": "k"}}}}),
        );
        assert!(provider.validate_spec(&no_name, StoreKind::SecretStore).is_err());
        let bad_project = spec(serde_json::json!({"projectID": "p/../x", "auth": key}));
        assert!(provider.validate_spec(&bad_project, StoreKind::SecretStore).is_err());
        let bad_location = spec(serde_json::json!({"projectID": "p", "location": "eu west", "auth": key}));
        assert!(provider.validate_spec(&bad_location, StoreKind::SecretStore).is_err());
        let bad_policy = spec(serde_json::json!({"projectID": "p", "secretVersionSelectionPolicy": "Newest"}));
        assert!(provider.validate_spec(&bad_policy, StoreKind::SecretStore).is_err());
        let wif =
            spec(serde_json::json!({"projectID": "p", "auth": {"workloadIdentityFederation": {"audience": "a"}}}));
        assert!(provider.validate_spec(&wif, StoreKind::SecretStore).is_ok(), "admitted; refused when used");
    }

    #[test]
    fn the_project_falls_back_to_the_clusters_and_references_without_namespace_are_referent() {
        let wi = spec(serde_json::json!({"auth": {"workloadIdentity": {
            "serviceAccountRef": {"name": "sa"}, "clusterProjectID": "cluster-proj",
            "clusterLocation": "l", "clusterName": "c"}}}));
        assert_eq!(project_of(&wi), Some("cluster-proj"));
        assert!(is_referent(&wi));
        let with_ns = spec(serde_json::json!({"projectID": "p", "auth": {"secretRef": {"secretAccessKeySecretRef": {
            "name": "gcp", "key": "k", "namespace": "ns"}}}}));
        assert_eq!(project_of(&with_ns), Some("p"));
        assert!(!is_referent(&with_ns));
    }

    #[test]
    fn regional_stores_use_the_locations_endpoint() {
        let provider = GcpProvider::with_endpoints(Endpoints::default(), None);
        let place = provider.place("p", Some("europe-west1"));
        assert_eq!(place.base, "https://secretmanager.europe-west1.rep.googleapis.com");
        assert_eq!(place.parent, "projects/p/locations/europe-west1");
        assert_eq!(provider.place("p", None).base, "https://secretmanager.googleapis.com");
    }
}
