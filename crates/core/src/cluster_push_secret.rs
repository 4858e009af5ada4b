//! ClusterPushSecret, as ESO 2.9 runs it (`pkg/controllers/clusterpushsecret`): which namespaces it selects,
//! the PushSecret in each, whether an existing one is ours, and the status. The fan-out itself (selection, plan,
//! patch) is [`crate::fan_out`], shared with ClusterExternalSecret.
//!
//! - Namespaces: `namespaceSelectors` only (ORed; none selects nothing). A selector Go would refuse fails the
//!   whole reconcile with ESO's `Errored` condition "failed to get target Namespaces".
//! - The PushSecret: named `pushSecretName` (default: the ClusterPushSecret's name), with exactly the labels and
//!   annotations of `pushSecretMetadata`, the spec `pushSecretSpec`, and a controller owner reference to the
//!   ClusterPushSecret. One that is not ours is never written or deleted; its namespace is reported failed with
//!   ESO's reason.
//! - No finalizer (as ESO): when the ClusterPushSecret is deleted, the garbage collector deletes its PushSecrets
//!   through their owner references (each PushSecret's own finalizer then cleans up its provider secrets).
//! - Status: `Ready` `True` (no reason), or `False` with "one or more namespaces failed"; `provisionedNamespaces`
//!   sorted, `failedNamespaces` sorted by namespace, `pushSecretName`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use external_secrets_api::v1alpha1::{
    ClusterPushSecret, ClusterPushSecretNamespaceFailure, ClusterPushSecretSpec, ClusterPushSecretStatus, PushSecret,
    PushSecretStatusCondition, push_reason,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use crate::duration::{DurationError, parse_go_duration};
use crate::fan_out::{self, NamespaceSelection, Parent, SelectionError};

/// The kind, as owner references name it.
pub const KIND: &str = "ClusterPushSecret";

/// The API version of the owner references we write.
pub const API_VERSION: &str = "external-secrets.io/v1alpha1";

/// How often a ClusterPushSecret is reconciled when `refreshTime` is unset (ESO: one hour).
pub const DEFAULT_REFRESH_TIME: Duration = Duration::from_secs(3600);

/// The `Ready=False` message when a namespace failed.
pub const NAMESPACES_FAILED: &str = "one or more namespaces failed";

/// The reason of a namespace whose PushSecret of that name is not ours (ESO's wording).
pub const ALREADY_EXISTS: &str = "push secret already exists in namespace";

/// ESO's `Errored` message when the namespaces cannot be selected.
pub const SELECTION_FAILED: &str = "failed to get target Namespaces";

/// ESO's `Errored` message when the PushSecrets of the previous `pushSecretName` cannot all be deleted.
pub const DELETE_FAILED: &str = "failed to delete push secret";

/// The name of the PushSecrets: `spec.pushSecretName`, else the ClusterPushSecret's name.
pub fn push_secret_name(cps: &ClusterPushSecret) -> String {
    match cps.spec.push_secret_name.as_deref() {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => cps.metadata.name.clone().unwrap_or_default(),
    }
}

/// How often to reconcile: `spec.refreshTime`, [`DEFAULT_REFRESH_TIME`] when unset, `None` for zero (ESO then
/// reconciles only on changes).
pub fn refresh_time(spec: &ClusterPushSecretSpec) -> Result<Option<Duration>, DurationError> {
    match spec.refresh_interval.as_deref() {
        None => Ok(Some(DEFAULT_REFRESH_TIME)),
        Some(text) => Ok(parse_go_duration(text)?.to_std().filter(|d| !d.is_zero())),
    }
}

/// The namespaces `spec.namespaceSelectors` selects.
pub fn namespace_selection(spec: &ClusterPushSecretSpec) -> Result<NamespaceSelection, SelectionError> {
    NamespaceSelection::of_selectors(&spec.namespace_selectors)
}

/// Whether a change of the namespace `name` (now with `labels`) may concern `cps`: it is selected, or is listed
/// in the status (provisioned: may have to be cleaned up; failed: may have to be no longer reported).
pub fn concerns_namespace(cps: &ClusterPushSecret, name: &str, labels: &BTreeMap<String, String>) -> bool {
    let listed = cps.status.as_ref().is_some_and(|s| {
        s.provisioned_namespaces.iter().any(|n| n == name) || s.failed_namespaces.iter().any(|f| f.namespace == name)
    });
    listed || namespace_selection(&cps.spec).is_ok_and(|s| s.selects(labels))
}

fn parent(cps: &ClusterPushSecret) -> Parent<'_> {
    Parent {
        api_version: API_VERSION,
        kind: KIND,
        name: cps.metadata.name.as_deref().unwrap_or_default(),
        uid: cps.metadata.uid.as_deref().unwrap_or_default(),
    }
}

/// The name of the ClusterPushSecret that is the controller owner of `ps`, if one is.
pub fn controlling_owner(ps: &PushSecret) -> Option<&str> {
    fan_out::controlling_owner(&ps.metadata, KIND)
}

/// Whether `ps` is controlled by the ClusterPushSecret `cps_name` (ESO's ownership test).
pub fn is_owned_by(ps: &PushSecret, cps_name: &str) -> bool {
    controlling_owner(ps) == Some(cps_name)
}

/// The PushSecret `name` that `cps` wants in `namespace`.
pub fn desired_push_secret(cps: &ClusterPushSecret, namespace: &str, name: &str) -> PushSecret {
    let metadata = cps.spec.push_secret_metadata.clone().unwrap_or_default();
    PushSecret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: (!metadata.labels.is_empty()).then_some(metadata.labels),
            annotations: (!metadata.annotations.is_empty()).then_some(metadata.annotations),
            owner_references: Some(vec![parent(cps).owner_reference()]),
            ..ObjectMeta::default()
        },
        spec: cps.spec.push_secret_spec.clone(),
        status: None,
    }
}

/// What to do in one selected namespace (a PushSecret that is not ours fails with [`ALREADY_EXISTS`]).
pub type NamespacePlan = fan_out::NamespacePlan<PushSecret>;

/// What to do in `namespace` given the PushSecret of that name that exists there (if any).
pub fn plan_namespace(
    cps: &ClusterPushSecret,
    namespace: &str,
    name: &str,
    existing: Option<&PushSecret>,
) -> NamespacePlan {
    fan_out::plan(&parent(cps), desired_push_secret(cps, namespace, name), existing)
}

/// `current` with the `Ready` condition replaced by `condition`; its `lastTransitionTime` is kept while the
/// status stays the same (ESO's `setClusterPushSecretCondition`).
pub fn with_ready(
    mut current: ClusterPushSecretStatus,
    mut condition: PushSecretStatusCondition,
) -> ClusterPushSecretStatus {
    if let Some(previous) = current.conditions.iter().find(|c| c.type_ == condition.type_)
        && previous.status == condition.status
    {
        condition.last_transition_time = previous.last_transition_time.clone();
    }
    current.conditions.retain(|c| c.type_ != condition.type_);
    current.conditions.push(condition);
    current
}

/// ESO's `NewClusterPushSecretCondition`: `Ready=True`, or `False` with [`NAMESPACES_FAILED`]; no reason.
pub fn ready_condition(any_failed: bool, now: Time) -> PushSecretStatusCondition {
    PushSecretStatusCondition {
        type_: "Ready".to_string(),
        status: if any_failed { "False" } else { "True" }.to_string(),
        reason: None,
        message: any_failed.then(|| NAMESPACES_FAILED.to_string()),
        last_transition_time: Some(now),
    }
}

/// ESO's `markAsFailed`: `Ready=False`, reason `Errored`, `message`.
pub fn errored_condition(message: &str, now: Time) -> PushSecretStatusCondition {
    PushSecretStatusCondition {
        type_: "Ready".to_string(),
        status: "False".to_string(),
        reason: Some(push_reason::ERRORED.to_string()),
        message: Some(message.to_string()),
        last_transition_time: Some(now),
    }
}

/// `failed` (namespace → reason) as the status lists it: sorted by namespace.
pub fn namespace_failures(failed: &BTreeMap<String, String>) -> Vec<ClusterPushSecretNamespaceFailure> {
    failed
        .iter()
        .map(|(namespace, reason)| ClusterPushSecretNamespaceFailure {
            namespace: namespace.clone(),
            reason: Some(reason.clone()),
        })
        .collect()
}

/// The status after a reconcile that selected the namespaces.
pub fn reconciled_status(
    current: ClusterPushSecretStatus,
    push_secret_name: &str,
    provisioned: BTreeSet<String>,
    failed: &BTreeMap<String, String>,
    now: Time,
) -> ClusterPushSecretStatus {
    let mut status = with_ready(current, ready_condition(!failed.is_empty(), now));
    status.push_secret_name = Some(push_secret_name.to_string());
    status.provisioned_namespaces = provisioned.into_iter().collect();
    status.failed_namespaces = namespace_failures(failed);
    status
}

#[cfg(test)]
mod tests {
    use external_secrets_api::v1alpha1::{PushSecretMetadata, PushSecretSpec, PushSecretStoreRef};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use serde_json::json;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn cps() -> ClusterPushSecret {
        let mut cps = ClusterPushSecret::new(
            "shared",
            ClusterPushSecretSpec {
                push_secret_spec: PushSecretSpec {
                    secret_store_refs: vec![PushSecretStoreRef { name: Some("s".into()), ..Default::default() }],
                    ..PushSecretSpec::default()
                },
                namespace_selectors: vec![LabelSelector {
                    match_labels: Some(labels(&[("team", "a")])),
                    match_expressions: None,
                }],
                ..Default::default()
            },
        );
        cps.metadata.uid = Some("uid-1".into());
        cps
    }

    fn now() -> Time {
        Time(jiff::Timestamp::from_second(1_700_000_000).expect("time"))
    }

    #[test]
    fn selects_by_namespace_selectors_and_provisioned_namespaces_concern_it() {
        let mut c = cps();
        assert!(concerns_namespace(&c, "n1", &labels(&[("team", "a")])));
        assert!(!concerns_namespace(&c, "n1", &labels(&[("team", "b")])));
        c.status = Some(ClusterPushSecretStatus { provisioned_namespaces: vec!["n1".into()], ..Default::default() });
        assert!(concerns_namespace(&c, "n1", &labels(&[])), "unlabelled: it must be cleaned up");
        c.status = Some(ClusterPushSecretStatus {
            failed_namespaces: namespace_failures(&BTreeMap::from([("n2".to_string(), ALREADY_EXISTS.to_string())])),
            ..Default::default()
        });
        assert!(concerns_namespace(&c, "n2", &labels(&[])), "unlabelled: no longer reported failed");
        c.spec.namespace_selectors.clear();
        assert!(!namespace_selection(&c.spec).expect("valid").selects(&labels(&[("team", "a")])));
    }

    #[test]
    fn the_push_secret_carries_metadata_spec_and_a_controller_owner_of_v1alpha1() {
        let mut c = cps();
        assert_eq!(push_secret_name(&c), "shared");
        c.spec.push_secret_name = Some("app".into());
        assert_eq!(push_secret_name(&c), "app");
        c.spec.push_secret_metadata =
            Some(PushSecretMetadata { labels: labels(&[("l", "1")]), annotations: labels(&[("a", "2")]) });
        let ps = desired_push_secret(&c, "ns", "app");
        assert_eq!(ps.metadata.labels, Some(labels(&[("l", "1")])));
        assert_eq!(ps.metadata.annotations, Some(labels(&[("a", "2")])));
        assert_eq!(ps.spec, c.spec.push_secret_spec);
        let owner = &ps.metadata.owner_references.as_ref().expect("owner")[0];
        assert_eq!(
            (owner.api_version.as_str(), owner.kind.as_str(), owner.name.as_str(), owner.controller),
            ("external-secrets.io/v1alpha1", "ClusterPushSecret", "shared", Some(true))
        );
        assert!(is_owned_by(&ps, "shared"));
        assert!(!is_owned_by(&ps, "other"));
    }

    #[test]
    fn a_push_secret_of_someone_else_is_never_ours_and_ours_is_patched_with_its_resource_version() {
        let c = cps();
        let mut existing = desired_push_secret(&c, "ns", "shared");
        existing.metadata.resource_version = Some("7".into());
        assert_eq!(plan_namespace(&c, "ns", "shared", Some(&existing)), NamespacePlan::InSync);
        let mut foreign = existing.clone();
        foreign.metadata.owner_references = None;
        assert_eq!(plan_namespace(&c, "ns", "shared", Some(&foreign)), NamespacePlan::NotOwned);
        let mut changed = c.clone();
        changed.spec.push_secret_spec.refresh_interval = "10s".into();
        let fan_out::NamespacePlan::Update(patch) = plan_namespace(&changed, "ns", "shared", Some(&existing)) else {
            panic!("expected an update");
        };
        assert_eq!(patch, json!({"metadata": {"resourceVersion": "7"}, "spec": {"refreshInterval": "10s"}}));
    }

    #[test]
    fn status_is_esos_ready_without_reason_and_keeps_the_transition_time() {
        let failed = BTreeMap::from([("z".to_string(), ALREADY_EXISTS.to_string())]);
        let provisioned = BTreeSet::from(["b".to_string(), "a".to_string()]);
        let first = reconciled_status(ClusterPushSecretStatus::default(), "app", provisioned.clone(), &failed, now());
        assert_eq!(first.provisioned_namespaces, vec!["a", "b"]);
        assert_eq!(first.push_secret_name.as_deref(), Some("app"));
        assert_eq!(first.failed_namespaces[0].reason.as_deref(), Some(ALREADY_EXISTS));
        assert_eq!(first.conditions.len(), 1);
        assert_eq!(
            (first.conditions[0].status.as_str(), first.conditions[0].message.as_deref(), &first.conditions[0].reason),
            ("False", Some(NAMESPACES_FAILED), &None)
        );
        let later = Time(jiff::Timestamp::from_second(1_700_000_100).expect("time"));
        let again = reconciled_status(first.clone(), "app", provisioned.clone(), &failed, later.clone());
        assert_eq!(again, first, "same status: nothing changes, not even the transition time");
        let ok = reconciled_status(again, "app", provisioned, &BTreeMap::new(), later.clone());
        assert_eq!(ok.conditions[0].status, "True");
        assert_eq!(ok.conditions[0].last_transition_time, Some(later));
        assert!(ok.failed_namespaces.is_empty());
    }
}
