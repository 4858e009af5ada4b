//! Reading Secrets of `remoteNamespace`: one Secret per key, lists for `find`, an access review for `validate`;
//! and PushSecret writes there (the decisions are in [`crate::push`]), always with the store's own credentials.

use std::collections::BTreeMap;

use async_trait::async_trait;
use external_secrets_provider::{
    FindQuery, MetadataPolicy, ProviderError, PushRemoteRef, PushSecretData, PushSource, RemoteKey, RemoteValue,
    SecretBytes, StoreClient, StoreKind, Validation,
};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, ResourceRule, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec, SelfSubjectRulesReview,
    SelfSubjectRulesReviewSpec,
};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ListParams, PostParams};
use regex::Regex;

use crate::connect::Identity;
use crate::error::from_kube;
use crate::json;
use crate::push::{self, RemoteSecret, Removal};
use external_secrets_provider::names::{is_dns_subdomain, is_label_key, is_label_value};

/// Secrets listed per request by `find`.
const PAGE_SIZE: u32 = 250;

/// A client for one store: an identity at an API server and the namespace it reads.
pub(crate) struct KubernetesStoreClient {
    identity: Identity,
    remote_namespace: String,
    /// The store's kind: only a ClusterSecretStore's pushes may name another namespace.
    kind: StoreKind,
}

impl KubernetesStoreClient {
    pub(crate) fn new(identity: Identity, remote_namespace: String, kind: StoreKind) -> Self {
        Self { identity, remote_namespace, kind }
    }

    fn checked_name(name: &str) -> Result<(), ProviderError> {
        if is_dns_subdomain(name) {
            Ok(())
        } else {
            Err(ProviderError::InvalidConfig(format!("remoteKey {name:?} is not a valid Secret name")))
        }
    }

    /// ESO's `PushSecret`: create the Secret `remoteKey` in the target namespace, or update it (a replace
    /// guarded by the resourceVersion read) when the push changes it.
    async fn write(&self, source: &PushSource, data: &PushSecretData) -> Result<(), ProviderError> {
        push::check(data)?;
        let meta = push::metadata(data)?;
        let namespace = push::target_namespace(&self.remote_namespace, self.kind, &meta)?;
        let name = &data.remote_ref.remote_key;
        Self::checked_name(name)?;
        let secrets: Api<Secret> = Api::namespaced(self.client().await?, &namespace);
        let context = format!("pushing to Secret {namespace}/{name}");
        let existing = secrets.get_opt(name).await.map_err(|e| from_kube(&context, e, ProviderError::InvalidConfig))?;
        let before = existing.as_ref().map(remote_of).unwrap_or_default();
        let after = push::merged(before.clone(), source, data, &meta)?;
        match existing {
            None => {
                let secret = secret_of(name, &namespace, &after, None);
                secrets
                    .create(&PostParams::default(), &secret)
                    .await
                    .map_err(|e| from_kube(&context, e, ProviderError::InvalidConfig))?;
            }
            Some(_) if after == before => {}
            Some(found) => {
                let secret = secret_of(name, &namespace, &after, Some(found));
                secrets
                    .replace(name, &PostParams::default(), &secret)
                    .await
                    .map_err(|e| from_kube(&context, e, ProviderError::InvalidConfig))?;
            }
        }
        Ok(())
    }

    /// ESO's `DeleteSecret`: gone already is done; a property of a Secret with other keys is removed, otherwise
    /// the Secret goes (in the store's `remoteNamespace`, as ESO).
    async fn remove(&self, remote_ref: &PushRemoteRef) -> Result<(), ProviderError> {
        let name = &remote_ref.remote_key;
        Self::checked_name(name)?;
        let secrets: Api<Secret> = Api::namespaced(self.client().await?, &self.remote_namespace);
        let context = format!("deleting Secret {}/{name}", self.remote_namespace);
        let Some(mut found) =
            secrets.get_opt(name).await.map_err(|e| from_kube(&context, e, ProviderError::InvalidConfig))?
        else {
            return Ok(());
        };
        let keys: Vec<String> = found.data.iter().flatten().map(|(k, _)| k.clone()).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        match push::removal(&keys, remote_ref.property.as_deref()) {
            Removal::Nothing => Ok(()),
            Removal::Property => {
                if let (Some(data), Some(property)) = (found.data.as_mut(), remote_ref.property.as_deref()) {
                    data.remove(property);
                }
                secrets
                    .replace(name, &PostParams::default(), &found)
                    .await
                    .map(|_| ())
                    .map_err(|e| from_kube(&context, e, ProviderError::InvalidConfig))
            }
            Removal::Secret => match secrets.delete(name, &Default::default()).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
                Err(e) => Err(from_kube(&context, e, ProviderError::InvalidConfig)),
            },
        }
    }

    /// ESO's `SecretExists`: the Secret (and the property, when one is named) is there.
    async fn exists(&self, remote_ref: &PushRemoteRef) -> Result<bool, ProviderError> {
        let name = &remote_ref.remote_key;
        Self::checked_name(name)?;
        let secrets: Api<Secret> = Api::namespaced(self.client().await?, &self.remote_namespace);
        let context = format!("reading Secret {}/{name}", self.remote_namespace);
        let found = secrets.get_opt(name).await.map_err(|e| from_kube(&context, e, ProviderError::InvalidConfig))?;
        Ok(match (found, remote_ref.property.as_deref().filter(|p| !p.is_empty())) {
            (None, _) => false,
            (Some(secret), Some(property)) => secret.data.is_some_and(|d| d.contains_key(property)),
            (Some(_), None) => true,
        })
    }

    async fn client(&self) -> Result<kube::Client, ProviderError> {
        self.identity.client().await
    }

    /// Passes `result` through, first dropping a minted token the API server rejected.
    async fn checked<T>(&self, result: Result<T, ProviderError>) -> Result<T, ProviderError> {
        if matches!(result, Err(ProviderError::Auth(_))) {
            self.identity.rejected().await;
        }
        result
    }

    async fn read(&self, key: &RemoteKey) -> Result<RemoteValue, ProviderError> {
        // Secret names are DNS subdomains; anything else cannot exist, and must not reach the request path.
        if !is_dns_subdomain(&key.key) {
            return Err(ProviderError::InvalidConfig(format!(
                "remoteRef.key {:?} is not a valid Secret name",
                key.key
            )));
        }
        let secrets: Api<Secret> = Api::namespaced(self.client().await?, &self.remote_namespace);
        let context = format!("reading Secret {}/{}", self.remote_namespace, key.key);
        let secret = secrets
            .get(&key.key)
            .await
            .map_err(|e| from_kube(&context, e, |_| ProviderError::NotFound { key: key.key.clone() }))?;
        Ok(match key.metadata_policy {
            MetadataPolicy::None => secret_value(secret),
            MetadataPolicy::Fetch => metadata_value(&secret),
        })
    }

    async fn list(&self, query: &FindQuery) -> Result<BTreeMap<String, RemoteValue>, ProviderError> {
        let selector = label_selector(&query.tags)?;
        let name = query
            .name_regexp
            .as_deref()
            .map(|pattern| {
                Regex::new(pattern)
                    .map_err(|e| ProviderError::InvalidConfig(format!("invalid find.name.regexp {pattern:?}: {e}")))
            })
            .transpose()?;
        let secrets: Api<Secret> = Api::namespaced(self.client().await?, &self.remote_namespace);
        let context = format!("listing Secrets in namespace {}", self.remote_namespace);
        let mut params = ListParams::default().limit(PAGE_SIZE);
        if let Some(selector) = &selector {
            params = params.labels(selector);
        }
        let mut found = BTreeMap::new();
        loop {
            let page = secrets.list(&params).await.map_err(|e| from_kube(&context, e, ProviderError::Internal))?;
            for secret in page.items {
                let Some(secret_name) = secret.metadata.name.clone() else { continue };
                if name.as_ref().is_none_or(|name| name.is_match(&secret_name)) {
                    found.insert(secret_name, secret_value(secret));
                }
            }
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params.continue_token = Some(token),
                _ => break,
            }
        }
        Ok(found)
    }

    /// ESO's check: a rule that grants `get` on `secrets` in the remote namespace (SelfSubjectRulesReview), else
    /// an explicit SelfSubjectAccessReview for it.
    async fn review(&self) -> Result<Validation, ProviderError> {
        let client = self.client().await?;
        let namespace = &self.remote_namespace;
        let rules_review = SelfSubjectRulesReview {
            spec: SelfSubjectRulesReviewSpec { namespace: Some(namespace.clone()) },
            ..Default::default()
        };
        let context = format!("reviewing the store's access to Secrets in namespace {namespace}");
        let rules = Api::<SelfSubjectRulesReview>::all(client.clone())
            .create(&PostParams::default(), &rules_review)
            .await
            .map_err(|e| from_kube(&context, e, ProviderError::Unavailable))?;
        if rules.status.is_some_and(|status| status.resource_rules.iter().any(grants_get_secrets)) {
            return Ok(Validation::Ready);
        }
        let access_review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace.clone()),
                    resource: Some("secrets".to_string()),
                    verb: Some("get".to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let access = Api::<SelfSubjectAccessReview>::all(client)
            .create(&PostParams::default(), &access_review)
            .await
            .map_err(|e| from_kube(&context, e, ProviderError::Unavailable))?;
        if access.status.is_some_and(|status| status.allowed) {
            Ok(Validation::Ready)
        } else {
            Err(ProviderError::Denied(format!("client is not allowed to get secrets in namespace {namespace}")))
        }
    }
}

#[async_trait]
impl StoreClient for KubernetesStoreClient {
    async fn get(&self, key: &RemoteKey) -> Result<RemoteValue, ProviderError> {
        let result = self.read(key).await;
        self.checked(result).await
    }

    async fn find(&self, query: &FindQuery) -> Result<BTreeMap<String, RemoteValue>, ProviderError> {
        let result = self.list(query).await;
        self.checked(result).await
    }

    async fn push_secret(&self, source: &PushSource, data: &PushSecretData) -> Result<(), ProviderError> {
        let result = self.write(source, data).await;
        self.checked(result).await
    }

    async fn delete_secret(&self, remote_ref: &PushRemoteRef) -> Result<(), ProviderError> {
        let result = self.remove(remote_ref).await;
        self.checked(result).await
    }

    async fn secret_exists(&self, remote_ref: &PushRemoteRef) -> Result<bool, ProviderError> {
        let result = self.exists(remote_ref).await;
        self.checked(result).await
    }

    async fn validate(&self) -> Result<Validation, ProviderError> {
        if matches!(self.identity, Identity::Deferred) {
            // ESO: referent authentication cannot be checked before an ExternalSecret names the namespace.
            return Ok(Validation::Unknown);
        }
        let result = self.review().await;
        self.checked(result).await
    }
}

/// What a push decides of an existing remote Secret.
fn remote_of(secret: &Secret) -> RemoteSecret {
    RemoteSecret {
        secret_type: secret.type_.clone().unwrap_or_default(),
        labels: secret.metadata.labels.clone().unwrap_or_default(),
        annotations: secret.metadata.annotations.clone().unwrap_or_default(),
        data: secret.data.iter().flatten().map(|(k, v)| (k.clone(), SecretBytes::new(v.0.clone()))).collect(),
    }
}

/// The Secret to create (`base` `None`) or to replace `base` with (its other fields and resourceVersion kept).
fn secret_of(name: &str, namespace: &str, remote: &RemoteSecret, base: Option<Secret>) -> Secret {
    let mut secret = base.unwrap_or_else(|| Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            ..Default::default()
        },
        ..Default::default()
    });
    secret.type_ = Some(remote.secret_type.clone());
    secret.metadata.labels = (!remote.labels.is_empty()).then(|| remote.labels.clone());
    secret.metadata.annotations = (!remote.annotations.is_empty()).then(|| remote.annotations.clone());
    secret.data =
        Some(remote.data.iter().map(|(k, v)| (k.clone(), k8s_openapi::ByteString(v.expose().to_vec()))).collect());
    secret.string_data = None;
    secret
}

/// A Secret's data as ESO returns it: the whole value is the JSON object of all keys with string values (invalid
/// UTF-8 replaced, as Go does), and the fields are the exact bytes, for byte-exact `property` and `extract`.
fn secret_value(secret: Secret) -> RemoteValue {
    let data = secret.data.unwrap_or_default();
    let bytes = json::string_map(data.iter().map(|(key, value)| (key, &value.0)));
    let fields = data.into_iter().map(|(key, value)| (key, SecretBytes::new(value.0))).collect();
    RemoteValue { bytes: SecretBytes::new(bytes), fields: Some(fields) }
}

/// `metadataPolicy: Fetch`: `{"annotations":{...},"labels":{...}}` as a document, so `labels.<key>` selects one.
fn metadata_value(secret: &Secret) -> RemoteValue {
    let meta = &secret.metadata;
    RemoteValue::bytes(json::metadata(meta.labels.as_ref(), meta.annotations.as_ref()))
}

/// Whether `rule` lets the subject `get` Secrets (core group), as ESO reads a SelfSubjectRulesReview.
fn grants_get_secrets(rule: &ResourceRule) -> bool {
    let has = |list: &[String], wanted: &str| list.iter().any(|item| item == wanted || item == "*");
    let resources = rule.resources.as_deref().unwrap_or_default();
    let groups = rule.api_groups.as_deref().unwrap_or_default();
    has(resources, "secrets") && has(&rule.verbs, "get") && (groups.is_empty() || has(groups, ""))
}

/// `find.tags` as a label selector (`k=v,...`), checked first so that no value can change the selector's meaning.
fn label_selector(tags: &BTreeMap<String, String>) -> Result<Option<String>, ProviderError> {
    if tags.is_empty() {
        return Ok(None);
    }
    let mut terms = Vec::with_capacity(tags.len());
    for (key, value) in tags {
        if !is_label_key(key) || !is_label_value(value) {
            return Err(ProviderError::InvalidConfig(format!(
                "find.tags: {key:?}: {value:?} is not a valid label selector term"
            )));
        }
        terms.push(format!("{key}={value}"));
    }
    Ok(Some(terms.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use kube::api::ObjectMeta;

    fn secret(data: &[(&str, &[u8])]) -> Secret {
        Secret {
            data: Some(data.iter().map(|(k, v)| ((*k).to_string(), ByteString(v.to_vec()))).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn a_secret_value_is_json_of_all_keys_plus_exact_fields() {
        let value = secret_value(secret(&[("password", b"p\"w"), ("bin", &[0, 0xff]), ("user", b"admin")]));
        assert_eq!(value.bytes.expose(), br#"{"bin":"\u0000\ufffd","password":"p\"w","user":"admin"}"#);
        let fields = value.fields.unwrap();
        assert_eq!(fields.get("bin").map(SecretBytes::expose), Some(&[0u8, 0xff][..]));
        assert_eq!(fields.len(), 3);
    }

    #[test]
    fn a_secret_without_data_is_an_empty_object() {
        let value = secret_value(Secret::default());
        assert_eq!(value.bytes.expose(), b"{}");
        assert_eq!(value.fields, Some(BTreeMap::new()));
    }

    #[test]
    fn metadata_is_labels_and_annotations() {
        let labelled = Secret {
            metadata: ObjectMeta {
                labels: Some([("app".to_string(), "db".to_string())].into_iter().collect()),
                ..Default::default()
            },
            ..secret(&[("password", b"hunter2")])
        };
        let value = metadata_value(&labelled);
        assert_eq!(value.bytes.expose(), br#"{"annotations":null,"labels":{"app":"db"}}"#);
        assert_eq!(value.fields, None);
    }

    fn rule(groups: Option<&[&str]>, resources: &[&str], verbs: &[&str]) -> ResourceRule {
        let owned = |items: &[&str]| items.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        ResourceRule {
            api_groups: groups.map(owned),
            resources: Some(owned(resources)),
            verbs: owned(verbs),
            resource_names: None,
        }
    }

    #[test]
    fn rules_granting_get_on_secrets_are_recognised() {
        assert!(grants_get_secrets(&rule(Some(&[""]), &["secrets"], &["get", "list"])));
        assert!(grants_get_secrets(&rule(None, &["secrets"], &["get"])));
        assert!(grants_get_secrets(&rule(Some(&["*"]), &["*"], &["*"])));
        assert!(!grants_get_secrets(&rule(Some(&[""]), &["secrets"], &["list"])));
        assert!(!grants_get_secrets(&rule(Some(&[""]), &["configmaps"], &["get"])));
        assert!(!grants_get_secrets(&rule(Some(&["apps"]), &["secrets"], &["get"])));
    }

    #[test]
    fn tags_become_a_checked_label_selector() {
        let tags = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
        };
        assert_eq!(label_selector(&tags(&[])).ok(), Some(None));
        assert_eq!(
            label_selector(&tags(&[("env", "prod"), ("app.kubernetes.io/name", "db")])).ok(),
            Some(Some("app.kubernetes.io/name=db,env=prod".to_string()))
        );
        assert_eq!(label_selector(&tags(&[("empty", "")])).ok(), Some(Some("empty=".to_string())));
        assert!(label_selector(&tags(&[("env", "prod,app=x")])).is_err());
        assert!(label_selector(&tags(&[("env!", "prod")])).is_err());
    }
}
