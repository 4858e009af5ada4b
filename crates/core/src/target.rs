//! The target Secret an ExternalSecret should produce (ESO's template application order for Secret targets,
//! without template rendering yet), as a pure function of the ExternalSecret and the built data.

use std::collections::BTreeMap;

use external_secrets_api::{ExternalSecret, ExternalSecretCreationPolicy, ExternalSecretTemplate, GROUP};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::hash::{created_by_label, data_hash};
use crate::refresh::{ANNOTATION_DATA_HASH, LABEL_CREATED_BY, LABEL_MANAGED, LABEL_MANAGED_VALUE};

/// Annotations never copied from the ExternalSecret onto its Secret. ESO copies every annotation; copying
/// kubectl's last-applied-configuration only leaks the ExternalSecret's manifest into the Secret, so we don't.
const NOT_COPIED_ANNOTATIONS: [&str; 1] = ["kubectl.kubernetes.io/last-applied-configuration"];

/// Why no target Secret can be planned. Names fields, never values.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("template type {0:?} is not allowed for a target Secret")]
    ForbiddenType(String),
    #[error(
        "template type kubernetes.io/service-account-token is not allowed together with the annotation \
         kubernetes.io/service-account.name"
    )]
    ServiceAccountTokenBinding,
    #[error("{0} is not supported yet (template rendering is not implemented)")]
    Unsupported(&'static str),
    #[error("unsupported template engineVersion {0:?}: only v2 exists")]
    EngineVersion(String),
    #[error("the ExternalSecret has no {0}")]
    MissingMeta(&'static str),
}

/// The name of the target Secret: `spec.target.name`, defaulting to the ExternalSecret's name.
pub fn target_name(es: &ExternalSecret) -> String {
    es.spec
        .target
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| es.metadata.name.clone().unwrap_or_default())
}

fn check_template(template: &ExternalSecretTemplate) -> Result<(), TargetError> {
    if template.engine_version != external_secrets_api::TEMPLATE_ENGINE_V2 {
        return Err(TargetError::EngineVersion(template.engine_version.clone()));
    }
    match template.type_.as_deref() {
        Some("bootstrap.kubernetes.io/token") => {
            return Err(TargetError::ForbiddenType("bootstrap.kubernetes.io/token".to_string()));
        }
        Some("kubernetes.io/service-account-token") => {
            let bound = template
                .metadata
                .as_ref()
                .is_some_and(|m| m.annotations.contains_key("kubernetes.io/service-account.name"));
            let annotations_from_template =
                template.template_from.iter().any(|t| t.target.eq_ignore_ascii_case("Annotations"));
            if bound || annotations_from_template {
                return Err(TargetError::ServiceAccountTokenBinding);
            }
        }
        _ => {}
    }
    if !template.data.is_empty() {
        return Err(TargetError::Unsupported("spec.target.template.data"));
    }
    if !template.template_from.is_empty() {
        return Err(TargetError::Unsupported("spec.target.template.templateFrom"));
    }
    if let Some(meta) = &template.metadata
        && meta.labels.values().chain(meta.annotations.values()).any(|v| v.contains("{{"))
    {
        return Err(TargetError::Unsupported("templated spec.target.template.metadata values"));
    }
    Ok(())
}

/// The desired target Secret, as it is applied (server-side) with the ExternalSecret's field manager: name,
/// namespace, labels (the managed label, `created-by` for `Owner`, and the ExternalSecret's own labels or the
/// template's), annotations (the `data-hash`, and the ExternalSecret's or the template's), the controller owner
/// reference for `Owner`, the type, `immutable`, and the data.
pub fn desired_secret(es: &ExternalSecret, data: BTreeMap<String, Vec<u8>>) -> Result<Secret, TargetError> {
    let name = es.metadata.name.clone().ok_or(TargetError::MissingMeta("name"))?;
    let namespace = es.metadata.namespace.clone().ok_or(TargetError::MissingMeta("namespace"))?;
    let target = &es.spec.target;

    let mut labels = BTreeMap::new();
    let mut annotations = BTreeMap::new();
    let mut type_ = None;
    match &target.template {
        Some(template) => {
            check_template(template)?;
            if let Some(meta) = &template.metadata {
                labels.extend(meta.labels.clone());
                annotations.extend(meta.annotations.clone());
            }
            type_ = template.type_.clone().filter(|t| !t.is_empty());
        }
        None => {
            labels.extend(es.metadata.labels.clone().unwrap_or_default());
            annotations.extend(
                es.metadata
                    .annotations
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(k, _)| !NOT_COPIED_ANNOTATIONS.contains(&k.as_str())),
            );
        }
    }

    let mut owner_references = None;
    if target.creation_policy == ExternalSecretCreationPolicy::Owner {
        let uid = es.metadata.uid.clone().ok_or(TargetError::MissingMeta("uid"))?;
        labels.insert(LABEL_CREATED_BY.to_string(), created_by_label(&namespace, &name));
        owner_references = Some(vec![OwnerReference {
            api_version: format!("{GROUP}/v1"),
            kind: "ExternalSecret".to_string(),
            name: name.clone(),
            uid,
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]);
    }
    labels.insert(LABEL_MANAGED.to_string(), LABEL_MANAGED_VALUE.to_string());
    annotations.insert(ANNOTATION_DATA_HASH.to_string(), data_hash(&data));

    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(target_name(es)),
            namespace: Some(namespace),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references,
            ..Default::default()
        },
        type_,
        immutable: target.immutable.then_some(true),
        data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v))).collect()),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es(json: serde_json::Value) -> ExternalSecret {
        serde_json::from_value(json).expect("ExternalSecret")
    }

    fn walkthrough() -> ExternalSecret {
        es(serde_json::json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": "app", "namespace": "default", "uid": "u-1",
                         "labels": {"team": "a"},
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "note": "n"}},
            "spec": {"secretStoreRef": {"name": "aws", "kind": "SecretStore"}, "refreshInterval": "1h",
                     "target": {"name": "appsecret", "creationPolicy": "Owner"},
                     "data": [{"secretKey": "k", "remoteRef": {"key": "x"}}]}
        }))
    }

    #[test]
    fn owner_policy_sets_owner_reference_labels_and_hash() {
        let data = BTreeMap::from([("foo".to_string(), b"bar".to_vec())]);
        let s = desired_secret(&walkthrough(), data).expect("desired");
        assert_eq!(s.metadata.name.as_deref(), Some("appsecret"));
        let labels = s.metadata.labels.expect("labels");
        assert_eq!(labels[LABEL_MANAGED], "true");
        assert_eq!(labels[LABEL_CREATED_BY], created_by_label("default", "app"));
        assert_eq!(labels["team"], "a");
        let annotations = s.metadata.annotations.expect("annotations");
        assert_eq!(annotations[ANNOTATION_DATA_HASH], "f2a604b87eb0cf673761e8cfea850f901fe73a3d1b2f338802107f36");
        assert_eq!(annotations["note"], "n");
        assert!(!annotations.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
        let owner = &s.metadata.owner_references.expect("owner")[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller, owner.block_owner_deletion),
            ("ExternalSecret", Some(true), Some(true))
        );
        assert_eq!(owner.api_version, "external-secrets.io/v1");
    }

    #[test]
    fn orphan_policy_has_no_owner_and_no_created_by() {
        let mut e = walkthrough();
        e.spec.target.creation_policy = ExternalSecretCreationPolicy::Orphan;
        let s = desired_secret(&e, BTreeMap::new()).expect("desired");
        assert!(s.metadata.owner_references.is_none());
        assert!(!s.metadata.labels.expect("labels").contains_key(LABEL_CREATED_BY));
    }

    #[test]
    fn template_type_and_metadata_replace_the_copied_metadata() {
        let mut e = walkthrough();
        e.spec.target.template = Some(
            serde_json::from_value(
                serde_json::json!({"type": "kubernetes.io/tls", "metadata": {"labels": {"app": "web"}}}),
            )
            .expect("template"),
        );
        let s = desired_secret(&e, BTreeMap::new()).expect("desired");
        assert_eq!(s.type_.as_deref(), Some("kubernetes.io/tls"));
        let labels = s.metadata.labels.expect("labels");
        assert_eq!(labels.get("app").map(String::as_str), Some("web"));
        assert!(!labels.contains_key("team"));
    }

    #[test]
    fn forbidden_template_types_are_refused() {
        let mut e = walkthrough();
        e.spec.target.template = Some(
            serde_json::from_value(serde_json::json!({"type": "bootstrap.kubernetes.io/token"})).expect("template"),
        );
        assert!(matches!(desired_secret(&e, BTreeMap::new()), Err(TargetError::ForbiddenType(_))));
    }

    #[test]
    fn template_data_is_reported_as_unsupported_until_the_engine_lands() {
        let mut e = walkthrough();
        e.spec.target.template =
            Some(serde_json::from_value(serde_json::json!({"data": {"x": "{{ .k }}"}})).expect("template"));
        assert_eq!(desired_secret(&e, BTreeMap::new()), Err(TargetError::Unsupported("spec.target.template.data")));
    }
}
