//! ClusterExternalSecret, as ESO 2.9 runs it: which namespaces it selects, what the ExternalSecret in each
//! should be, whether an existing one is ours and up to date (and the patch when not), and the status.
//!
//! - Namespaces: `namespaces` (by name, matched through the `kubernetes.io/metadata.name` label as ESO does),
//!   the deprecated `namespaceSelector` and `namespaceSelectors`, all ORed. A selector Go would refuse fails the
//!   whole selection, reported as the failed namespace `unknown`.
//! - The ExternalSecret: named `externalSecretName` (default: the ClusterExternalSecret's name), with exactly the
//!   labels and annotations of `externalSecretMetadata` (plus the ClusterExternalSecret's
//!   `external-secrets.io/force-sync` annotation), the spec `externalSecretSpec`, and a controller owner reference
//!   to the ClusterExternalSecret (other owner references kept).
//! - Ours: an ExternalSecret whose controller owner is a ClusterExternalSecret of this name (any version,
//!   compared by group, kind and name, as ESO does). One that is not ours is never written or deleted; its
//!   namespace is reported failed with ESO's reason.
//! - Status: `Ready` `True`, or `False` with "one or more namespaces failed"; `provisionedNamespaces` sorted,
//!   `failedNamespaces` sorted by namespace.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use external_secrets_api::{
    ClusterExternalSecret, ClusterExternalSecretNamespaceFailure, ClusterExternalSecretSpec,
    ClusterExternalSecretStatus, ClusterExternalSecretStatusCondition, ExternalSecret,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::Value;

use crate::duration::{DurationError, parse_go_duration};
use crate::fan_out::{self, Parent};
pub use crate::fan_out::{LABEL_METADATA_NAME, NamespaceSelection, SelectionError, merge_diff, removed_namespaces};

/// ESO's finalizer on a ClusterExternalSecret: its ExternalSecrets are deleted before it goes.
pub const FINALIZER: &str = "externalsecrets.external-secrets.io/clusterexternalsecret-cleanup";

/// ESO 2.9 also puts `externalsecrets.external-secrets.io/ces-<name>` on every namespace it provisions. We do not
/// (see docs/compatibility.md), but remove the ones ESO left, or such namespaces would hang in `Terminating`.
pub const ESO_NAMESPACE_FINALIZER_PREFIX: &str = "externalsecrets.external-secrets.io/ces-";

/// The annotation ESO copies from the ClusterExternalSecret onto its ExternalSecrets (and removes when gone).
pub const ANNOTATION_FORCE_SYNC: &str = "external-secrets.io/force-sync";

/// The `Ready=False` message.
pub const NAMESPACES_FAILED: &str = "one or more namespaces failed";

/// The reason of a namespace whose ExternalSecret of that name is not ours.
pub const ALREADY_EXISTS: &str = "external secret already exists in namespace";

/// The failed "namespace" ESO reports when the namespaces could not be selected at all.
pub const UNKNOWN_NAMESPACE: &str = "unknown";

/// How often a ClusterExternalSecret is reconciled when `refreshTime` is unset (ESO: one hour).
pub const DEFAULT_REFRESH_TIME: Duration = Duration::from_secs(3600);

/// The kind, as owner references name it.
pub const KIND: &str = "ClusterExternalSecret";

/// The API version of the owner references we write.
pub const API_VERSION: &str = "external-secrets.io/v1";

/// ESO's finalizer on namespaces for the ClusterExternalSecret `name`.
pub fn eso_namespace_finalizer(name: &str) -> String {
    format!("{ESO_NAMESPACE_FINALIZER_PREFIX}{name}")
}

/// The name of the ExternalSecrets: `spec.externalSecretName`, else the ClusterExternalSecret's name.
pub fn external_secret_name(ces: &ClusterExternalSecret) -> String {
    match ces.spec.external_secret_name.as_deref() {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => ces.metadata.name.clone().unwrap_or_default(),
    }
}

/// How often to reconcile: `spec.refreshTime`, [`DEFAULT_REFRESH_TIME`] when unset, `None` for zero (ESO then
/// reconciles only on changes).
pub fn refresh_time(spec: &ClusterExternalSecretSpec) -> Result<Option<Duration>, DurationError> {
    match spec.refresh_interval.as_deref() {
        None => Ok(Some(DEFAULT_REFRESH_TIME)),
        Some(text) => Ok(parse_go_duration(text)?.to_std().filter(|d| !d.is_zero())),
    }
}

/// The namespaces a ClusterExternalSecret selects: each name of `namespaces`, `namespaceSelector` and each of
/// `namespaceSelectors`, ORed.
pub fn namespace_selection(spec: &ClusterExternalSecretSpec) -> Result<NamespaceSelection, SelectionError> {
    let deprecated = spec.namespace_selector.iter().map(|s| ("spec.namespaceSelector".to_string(), s));
    let listed = spec.namespace_selectors.iter().enumerate().map(|(i, s)| (format!("spec.namespaceSelectors[{i}]"), s));
    NamespaceSelection::from_parts(&spec.namespaces, deprecated.chain(listed))
}

/// Whether a change of the namespace `name` (now with `labels`) may concern `ces`: it is selected, was
/// provisioned (and may have to be cleaned up) or failed (no longer to be reported), or carries the namespace
/// finalizer ESO left for it. An invalid selector concerns nobody (the ClusterExternalSecret reports it itself).
pub fn concerns_namespace(
    ces: &ClusterExternalSecret,
    name: &str,
    labels: &BTreeMap<String, String>,
    finalizers: &[String],
) -> bool {
    // Failed ones too: a namespace that stops being selected must stop being reported.
    let provisioned = ces.status.as_ref().is_some_and(|s| {
        s.provisioned_namespaces.iter().any(|n| n == name) || s.failed_namespaces.iter().any(|f| f.namespace == name)
    });
    let ces_name = ces.metadata.name.as_deref().unwrap_or_default();
    let eso_finalizer = eso_namespace_finalizer(ces_name);
    provisioned
        || finalizers.contains(&eso_finalizer)
        || namespace_selection(&ces.spec).is_ok_and(|s| s.selects(labels))
}

fn parent(ces: &ClusterExternalSecret) -> Parent<'_> {
    Parent {
        api_version: API_VERSION,
        kind: KIND,
        name: ces.metadata.name.as_deref().unwrap_or_default(),
        uid: ces.metadata.uid.as_deref().unwrap_or_default(),
    }
}

/// The name of the ClusterExternalSecret that is the controller owner of `es`, if one is.
pub fn controlling_owner(es: &ExternalSecret) -> Option<&str> {
    fan_out::controlling_owner(&es.metadata, KIND)
}

/// Whether `es` is controlled by the ClusterExternalSecret `ces_name` (ESO's ownership test).
pub fn is_owned_by(es: &ExternalSecret, ces_name: &str) -> bool {
    controlling_owner(es) == Some(ces_name)
}

/// The controller owner reference to `ces`, as controller-runtime's `SetControllerReference` writes it.
pub fn owner_reference(ces: &ClusterExternalSecret) -> OwnerReference {
    parent(ces).owner_reference()
}

/// The ExternalSecret `name` that `ces` wants in `namespace`.
pub fn desired_external_secret(ces: &ClusterExternalSecret, namespace: &str, name: &str) -> ExternalSecret {
    let metadata = ces.spec.external_secret_metadata.clone().unwrap_or_default();
    let mut annotations = metadata.annotations;
    match ces.metadata.annotations.as_ref().and_then(|a| a.get(ANNOTATION_FORCE_SYNC)) {
        Some(value) => {
            annotations.insert(ANNOTATION_FORCE_SYNC.to_string(), value.clone());
        }
        None => {
            annotations.remove(ANNOTATION_FORCE_SYNC);
        }
    }
    let labels = metadata.labels;
    ExternalSecret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: (!labels.is_empty()).then_some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: Some(vec![owner_reference(ces)]),
            ..ObjectMeta::default()
        },
        spec: ces.spec.external_secret_spec.clone(),
        status: None,
    }
}

/// What to do in one selected namespace (an ExternalSecret that is not ours fails with [`ALREADY_EXISTS`]).
pub type NamespacePlan = fan_out::NamespacePlan<ExternalSecret>;

/// What to do in `namespace` given the ExternalSecret of that name that exists there (if any).
pub fn plan_namespace(
    ces: &ClusterExternalSecret,
    namespace: &str,
    name: &str,
    existing: Option<&ExternalSecret>,
) -> NamespacePlan {
    fan_out::plan(&parent(ces), desired_external_secret(ces, namespace, name), existing)
}

/// The JSON merge patch that turns `existing` (ours) into `desired` (see [`fan_out::update_patch`]).
pub fn update_patch(existing: &ExternalSecret, desired: &ExternalSecret, ces: &ClusterExternalSecret) -> Option<Value> {
    fan_out::update_patch(existing, desired, &parent(ces))
}

/// The `Ready` condition: `True`, or `False` with [`NAMESPACES_FAILED`] when a namespace failed.
pub fn ready_condition(any_failed: bool) -> ClusterExternalSecretStatusCondition {
    ClusterExternalSecretStatusCondition {
        type_: "Ready".to_string(),
        status: if any_failed { "False" } else { "True" }.to_string(),
        message: any_failed.then(|| NAMESPACES_FAILED.to_string()),
    }
}

/// `current` with the `Ready` condition replaced (other conditions kept, as ESO does).
pub fn with_ready(
    mut current: ClusterExternalSecretStatus,
    condition: ClusterExternalSecretStatusCondition,
) -> ClusterExternalSecretStatus {
    current.conditions.retain(|c| c.type_ != condition.type_);
    current.conditions.push(condition);
    current
}

/// `failed` (namespace → reason) as the status lists it: sorted by namespace.
pub fn namespace_failures(failed: &BTreeMap<String, String>) -> Vec<ClusterExternalSecretNamespaceFailure> {
    failed
        .iter()
        .map(|(namespace, reason)| ClusterExternalSecretNamespaceFailure {
            namespace: namespace.clone(),
            reason: Some(reason.clone()),
        })
        .collect()
}

/// The status after a reconcile that selected the namespaces: `provisioned` sorted, `failed` listed, `Ready`
/// accordingly.
pub fn reconciled_status(
    current: ClusterExternalSecretStatus,
    external_secret_name: &str,
    provisioned: BTreeSet<String>,
    failed: &BTreeMap<String, String>,
) -> ClusterExternalSecretStatus {
    let mut status = with_ready(current, ready_condition(!failed.is_empty()));
    status.external_secret_name = Some(external_secret_name.to_string());
    status.provisioned_namespaces = provisioned.into_iter().collect();
    status.failed_namespaces = namespace_failures(failed);
    status
}

/// The status when the work stopped early (the namespaces could not be selected, or the ExternalSecrets of the
/// previous name could not be deleted): `Ready=False`, the failures listed, everything else as it was.
pub fn failed_status(
    current: ClusterExternalSecretStatus,
    failed: &BTreeMap<String, String>,
) -> ClusterExternalSecretStatus {
    let mut status = with_ready(current, ready_condition(true));
    status.failed_namespaces = namespace_failures(failed);
    status
}

#[cfg(test)]
mod tests {
    use external_secrets_api::{ExternalSecretMetadata, ExternalSecretSpec, SecretStoreRef};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
    use serde_json::json;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn ns_labels(name: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut out = labels(extra);
        out.insert(LABEL_METADATA_NAME.to_string(), name.to_string());
        out
    }

    fn ces(spec: ClusterExternalSecretSpec) -> ClusterExternalSecret {
        let mut ces = ClusterExternalSecret::new("shared", spec);
        ces.metadata.uid = Some("uid-1".into());
        ces
    }

    fn spec_with_store(store: &str) -> ClusterExternalSecretSpec {
        ClusterExternalSecretSpec {
            external_secret_spec: ExternalSecretSpec {
                secret_store_ref: Some(SecretStoreRef { name: store.into(), ..SecretStoreRef::default() }),
                ..ExternalSecretSpec::default()
            },
            ..ClusterExternalSecretSpec::default()
        }
    }

    fn selector(pairs: &[(&str, &str)]) -> LabelSelector {
        LabelSelector { match_labels: Some(labels(pairs)), match_expressions: None }
    }

    #[test]
    fn names_deprecated_selector_and_selectors_are_ored() {
        let spec = ClusterExternalSecretSpec {
            namespaces: vec!["by-name".into()],
            namespace_selector: Some(selector(&[("legacy", "yes")])),
            namespace_selectors: vec![selector(&[("team", "a")]), selector(&[("team", "b")])],
            ..spec_with_store("s")
        };
        let selection = namespace_selection(&spec).expect("valid");
        assert!(selection.selects(&ns_labels("by-name", &[])));
        assert!(selection.selects(&ns_labels("x", &[("legacy", "yes")])));
        assert!(selection.selects(&ns_labels("x", &[("team", "a")])));
        assert!(selection.selects(&ns_labels("x", &[("team", "b")])));
        assert!(!selection.selects(&ns_labels("x", &[("team", "c")])));
        assert!(!selection.selects(&ns_labels("by-name-2", &[])));
    }

    #[test]
    fn no_selector_selects_nothing_but_an_empty_selector_selects_everything() {
        let none = namespace_selection(&spec_with_store("s")).expect("valid");
        assert!(!none.selects(&ns_labels("a", &[])));
        let all = namespace_selection(&ClusterExternalSecretSpec {
            namespace_selectors: vec![LabelSelector::default()],
            ..spec_with_store("s")
        })
        .expect("valid");
        assert!(all.selects(&ns_labels("a", &[])));
    }

    #[test]
    fn an_invalid_selector_fails_the_selection_naming_the_field() {
        let spec = ClusterExternalSecretSpec {
            namespace_selectors: vec![
                selector(&[("team", "a")]),
                LabelSelector {
                    match_labels: None,
                    match_expressions: Some(vec![LabelSelectorRequirement {
                        key: "team".into(),
                        operator: "Equals".into(),
                        values: Some(vec!["a".into()]),
                    }]),
                },
            ],
            ..spec_with_store("s")
        };
        let err = namespace_selection(&spec).expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "failed to convert label selector spec.namespaceSelectors[1]: \"Equals\" is not a valid label selector operator"
        );
        assert!(!concerns_namespace(&ces(spec), "x", &ns_labels("x", &[("team", "a")]), &[]));
    }

    #[test]
    fn the_external_secret_name_defaults_to_the_cluster_external_secrets_name() {
        let mut c = ces(spec_with_store("s"));
        assert_eq!(external_secret_name(&c), "shared");
        c.spec.external_secret_name = Some("app".into());
        assert_eq!(external_secret_name(&c), "app");
    }

    #[test]
    fn refresh_time_defaults_to_an_hour_and_zero_means_never() {
        let mut spec = spec_with_store("s");
        assert_eq!(refresh_time(&spec), Ok(Some(Duration::from_secs(3600))));
        spec.refresh_interval = Some("90s".into());
        assert_eq!(refresh_time(&spec), Ok(Some(Duration::from_secs(90))));
        spec.refresh_interval = Some("0".into());
        assert_eq!(refresh_time(&spec), Ok(None));
        spec.refresh_interval = Some("soon".into());
        assert!(refresh_time(&spec).is_err());
    }

    #[test]
    fn a_namespace_change_concerns_selecting_provisioned_and_eso_finalized_ones() {
        let mut c = ces(ClusterExternalSecretSpec {
            namespace_selectors: vec![selector(&[("team", "a")])],
            ..spec_with_store("s")
        });
        assert!(concerns_namespace(&c, "n1", &ns_labels("n1", &[("team", "a")]), &[]));
        assert!(!concerns_namespace(&c, "n1", &ns_labels("n1", &[]), &[]));
        c.status =
            Some(ClusterExternalSecretStatus { provisioned_namespaces: vec!["n1".into()], ..Default::default() });
        assert!(concerns_namespace(&c, "n1", &ns_labels("n1", &[]), &[]), "unlabelled: it must be cleaned up");
        let finalizers = vec![eso_namespace_finalizer("shared")];
        assert!(concerns_namespace(&c, "n2", &ns_labels("n2", &[]), &finalizers));
    }

    #[test]
    fn removed_namespaces_are_the_provisioned_ones_no_longer_selected() {
        let selected = BTreeSet::from(["a".to_string(), "c".to_string()]);
        let provisioned = vec!["a".to_string(), "b".to_string(), "d".to_string()];
        assert_eq!(removed_namespaces(&selected, &provisioned), vec!["b", "d"]);
    }

    #[test]
    fn desired_external_secret_carries_metadata_force_sync_spec_and_controller_owner() {
        let mut c = ces(ClusterExternalSecretSpec {
            external_secret_metadata: Some(ExternalSecretMetadata {
                labels: labels(&[("team", "a")]),
                annotations: labels(&[("note", "x"), (ANNOTATION_FORCE_SYNC, "stale")]),
            }),
            ..spec_with_store("s")
        });
        c.metadata.annotations = Some(labels(&[(ANNOTATION_FORCE_SYNC, "2"), ("other", "not copied")]));
        let es = desired_external_secret(&c, "ns", "app");
        assert_eq!(es.metadata.name.as_deref(), Some("app"));
        assert_eq!(es.metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(es.metadata.labels, Some(labels(&[("team", "a")])));
        assert_eq!(es.metadata.annotations, Some(labels(&[("note", "x"), (ANNOTATION_FORCE_SYNC, "2")])));
        assert_eq!(es.spec, c.spec.external_secret_spec);
        let owner = &es.metadata.owner_references.as_ref().expect("owner")[0];
        assert_eq!(
            (owner.api_version.as_str(), owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            ("external-secrets.io/v1", "ClusterExternalSecret", "shared", "uid-1")
        );
        assert_eq!((owner.controller, owner.block_owner_deletion), (Some(true), Some(true)));

        c.metadata.annotations = None;
        let es = desired_external_secret(&c, "ns", "app");
        assert_eq!(es.metadata.annotations, Some(labels(&[("note", "x")])), "force-sync pruned");
    }

    fn existing(c: &ClusterExternalSecret) -> ExternalSecret {
        let mut es = desired_external_secret(c, "ns", "shared");
        es.metadata.resource_version = Some("42".into());
        es.metadata.uid = Some("es-uid".into());
        es.metadata.finalizers = Some(vec!["externalsecrets.external-secrets.io/externalsecret-cleanup".into()]);
        es
    }

    #[test]
    fn an_external_secret_as_wanted_needs_no_write() {
        let c = ces(spec_with_store("s"));
        assert_eq!(plan_namespace(&c, "ns", "shared", Some(&existing(&c))), NamespacePlan::InSync);
        assert!(matches!(plan_namespace(&c, "ns", "shared", None), NamespacePlan::Create(_)));
    }

    #[test]
    fn an_external_secret_of_someone_else_is_not_ours() {
        let c = ces(spec_with_store("s"));
        let mut foreign = existing(&c);
        foreign.metadata.owner_references = None;
        assert_eq!(plan_namespace(&c, "ns", "shared", Some(&foreign)), NamespacePlan::NotOwned);
        let mut other = existing(&c);
        other.metadata.owner_references.as_mut().expect("owners")[0].name = "other-ces".into();
        assert_eq!(plan_namespace(&c, "ns", "shared", Some(&other)), NamespacePlan::NotOwned);
        let mut not_controller = existing(&c);
        not_controller.metadata.owner_references.as_mut().expect("owners")[0].controller = Some(false);
        assert_eq!(plan_namespace(&c, "ns", "shared", Some(&not_controller)), NamespacePlan::NotOwned);
        let mut v1beta1 = existing(&c);
        v1beta1.metadata.owner_references.as_mut().expect("owners")[0].api_version =
            "external-secrets.io/v1beta1".into();
        assert!(is_owned_by(&v1beta1, "shared"), "any version of the group");
    }

    #[test]
    fn a_changed_spec_label_or_annotation_is_patched_with_the_resource_version() {
        let mut c = ces(ClusterExternalSecretSpec {
            external_secret_metadata: Some(ExternalSecretMetadata {
                labels: labels(&[("keep", "1"), ("drop", "1")]),
                annotations: BTreeMap::new(),
            }),
            ..spec_with_store("old")
        });
        let es = existing(&c);
        c.spec.external_secret_spec.secret_store_ref =
            Some(SecretStoreRef { name: "new".into(), ..Default::default() });
        c.spec.external_secret_metadata =
            Some(ExternalSecretMetadata { labels: labels(&[("keep", "1")]), annotations: labels(&[("a", "b")]) });
        let NamespacePlan::Update(patch) = plan_namespace(&c, "ns", "shared", Some(&es)) else {
            panic!("expected an update");
        };
        assert_eq!(
            patch,
            json!({
                "metadata": {"labels": {"drop": null}, "annotations": {"a": "b"}, "resourceVersion": "42"},
                "spec": {"secretStoreRef": {"name": "new"}}
            })
        );
    }

    #[test]
    fn labels_others_added_are_removed_as_eso_replaces_them() {
        let c = ces(spec_with_store("s"));
        let mut es = existing(&c);
        es.metadata.labels = Some(labels(&[("added-by-hand", "x")]));
        let NamespacePlan::Update(patch) = plan_namespace(&c, "ns", "shared", Some(&es)) else {
            panic!("expected an update");
        };
        assert_eq!(patch, json!({"metadata": {"labels": {"added-by-hand": null}, "resourceVersion": "42"}}));
    }

    #[test]
    fn the_owner_reference_of_a_recreated_cluster_external_secret_is_upserted_and_others_kept() {
        let c = ces(spec_with_store("s"));
        let mut es = existing(&c);
        let other = OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: "cm".into(),
            uid: "cm-uid".into(),
            controller: None,
            block_owner_deletion: None,
        };
        let owners = es.metadata.owner_references.as_mut().expect("owners");
        owners[0].uid = "old-uid".into();
        owners.insert(0, other.clone());
        let NamespacePlan::Update(patch) = plan_namespace(&c, "ns", "shared", Some(&es)) else {
            panic!("expected an update");
        };
        let expected = serde_json::to_value(vec![other, owner_reference(&c)]).expect("json");
        assert_eq!(patch["metadata"]["ownerReferences"], expected);
    }

    #[test]
    fn merge_diff_nulls_removed_members_and_replaces_arrays() {
        assert_eq!(merge_diff(&json!({"a": 1}), &json!({"a": 1})), None);
        assert_eq!(
            merge_diff(&json!({"a": 1, "b": {"c": [1, 2], "d": 1}}), &json!({"b": {"c": [2], "d": 1}, "e": "x"})),
            Some(json!({"a": null, "b": {"c": [2]}, "e": "x"}))
        );
        assert_eq!(merge_diff(&json!({"a": {"b": 1}}), &json!({"a": 3})), Some(json!({"a": 3})));
    }

    #[test]
    fn status_lists_sorted_namespaces_and_sets_ready_as_eso() {
        let provisioned = BTreeSet::from(["b".to_string(), "a".to_string()]);
        let ok =
            reconciled_status(ClusterExternalSecretStatus::default(), "app", provisioned.clone(), &BTreeMap::new());
        assert_eq!(ok.provisioned_namespaces, vec!["a", "b"]);
        assert_eq!(ok.external_secret_name.as_deref(), Some("app"));
        assert_eq!(
            ok.conditions,
            vec![ClusterExternalSecretStatusCondition { type_: "Ready".into(), status: "True".into(), message: None }]
        );
        assert!(ok.failed_namespaces.is_empty());

        let failed =
            BTreeMap::from([("z".to_string(), ALREADY_EXISTS.to_string()), ("c".to_string(), "boom".to_string())]);
        let partial = reconciled_status(ok.clone(), "app", provisioned, &failed);
        assert_eq!(partial.conditions.len(), 1, "Ready replaced, not added");
        assert_eq!(partial.conditions[0].status, "False");
        assert_eq!(partial.conditions[0].message.as_deref(), Some(NAMESPACES_FAILED));
        let listed: Vec<_> =
            partial.failed_namespaces.iter().map(|f| (f.namespace.as_str(), f.reason.as_deref())).collect();
        assert_eq!(listed, vec![("c", Some("boom")), ("z", Some(ALREADY_EXISTS))]);

        let unknown = BTreeMap::from([(UNKNOWN_NAMESPACE.to_string(), "bad selector".to_string())]);
        let stopped = failed_status(ok.clone(), &unknown);
        assert_eq!(stopped.provisioned_namespaces, ok.provisioned_namespaces, "kept as it was");
        assert_eq!(stopped.failed_namespaces[0].namespace, "unknown");
        assert_eq!(stopped.conditions[0].status, "False");
    }
}
