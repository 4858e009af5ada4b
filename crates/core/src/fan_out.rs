//! What ClusterExternalSecret and ClusterPushSecret share (ESO's `esutils.GetTargetNamespaces` and the
//! create-or-update of one child object per namespace): namespace selection, the controller owner reference,
//! whether a child is ours, the plan per namespace (create / merge patch / in sync / not ours), and which
//! provisioned namespaces are no longer selected. The parent-specific parts (which child, its metadata, the
//! status) live in [`crate::cluster_external_secret`] and [`crate::cluster_push_secret`].

use std::collections::{BTreeMap, BTreeSet};

use external_secrets_api::GROUP;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use serde_json::{Map, Value};

use crate::label_selector::{InvalidSelector, Selector};

/// The label every namespace carries with its own name; ESO selects `namespaces` by it.
pub const LABEL_METADATA_NAME: &str = "kubernetes.io/metadata.name";

/// A child object a cluster-scoped parent stamps into namespaces (an ExternalSecret or a PushSecret).
pub trait Child: Clone {
    /// Its metadata.
    fn metadata(&self) -> &ObjectMeta;
    /// Its spec as JSON (compared and patched member by member).
    fn spec_value(&self) -> Option<Value>;
}

impl Child for external_secrets_api::ExternalSecret {
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn spec_value(&self) -> Option<Value> {
        serde_json::to_value(&self.spec).ok()
    }
}

impl Child for external_secrets_api::v1alpha1::PushSecret {
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn spec_value(&self) -> Option<Value> {
        serde_json::to_value(&self.spec).ok()
    }
}

/// The parent as owner references name it.
#[derive(Clone, Copy, Debug)]
pub struct Parent<'a> {
    /// `external-secrets.io/v1` or `external-secrets.io/v1alpha1`.
    pub api_version: &'static str,
    /// `ClusterExternalSecret` or `ClusterPushSecret`.
    pub kind: &'static str,
    pub name: &'a str,
    pub uid: &'a str,
}

impl Parent<'_> {
    /// Whether `owner` points at this parent (any version of the group, compared by kind and name, as ESO).
    fn is(&self, owner: &OwnerReference) -> bool {
        refers_to(owner, self.kind, self.name)
    }

    /// The controller owner reference, as controller-runtime's `SetControllerReference` writes it.
    pub fn owner_reference(&self) -> OwnerReference {
        OwnerReference {
            api_version: self.api_version.to_string(),
            kind: self.kind.to_string(),
            name: self.name.to_string(),
            uid: self.uid.to_string(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }
}

fn refers_to(owner: &OwnerReference, kind: &str, name: &str) -> bool {
    let group = owner.api_version.split_once('/').map(|(g, _)| g).unwrap_or_default();
    group == GROUP && owner.kind == kind && owner.name == name
}

/// The name of the `kind` parent that is the controller owner of an object with `metadata`, if one is.
pub fn controlling_owner<'a>(metadata: &'a ObjectMeta, kind: &str) -> Option<&'a str> {
    metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true) && refers_to(o, kind, &o.name))
        .map(|o| o.name.as_str())
}

/// The namespaces a parent selects: label selectors (and names, as selectors on [`LABEL_METADATA_NAME`]), ORed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceSelection {
    selectors: Vec<Selector>,
}

/// A namespace selector that cannot be used, and where it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("failed to convert label selector {field}: {error}")]
pub struct SelectionError {
    /// e.g. `spec.namespaceSelectors[1]`.
    pub field: String,
    /// What is wrong with it.
    pub error: InvalidSelector,
}

impl NamespaceSelection {
    /// The selection of `names` and of the `(field, selector)` pairs; the first unusable selector fails it.
    pub fn from_parts<'a>(
        names: &[String],
        selectors: impl IntoIterator<Item = (String, &'a LabelSelector)>,
    ) -> Result<Self, SelectionError> {
        let mut out: Vec<Selector> = names.iter().map(|name| Selector::equals(LABEL_METADATA_NAME, name)).collect();
        for (field, selector) in selectors {
            out.push(Selector::parse(selector).map_err(|error| SelectionError { field, error })?);
        }
        Ok(Self { selectors: out })
    }

    /// `spec.namespaceSelectors[i]` of a list.
    pub fn of_selectors(list: &[LabelSelector]) -> Result<Self, SelectionError> {
        Self::from_parts(&[], list.iter().enumerate().map(|(i, s)| (format!("spec.namespaceSelectors[{i}]"), s)))
    }

    /// Whether a namespace with these labels is selected. No selector at all selects nothing (as in ESO).
    pub fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.selectors.iter().any(|s| s.matches(labels))
    }
}

/// What was provisioned before and is no longer selected, in the order of `provisioned`.
pub fn removed_namespaces<'a>(selected: &BTreeSet<String>, provisioned: &'a [String]) -> Vec<&'a str> {
    provisioned.iter().filter(|ns| !selected.contains(*ns)).map(String::as_str).collect()
}

/// What to do in one selected namespace.
#[derive(Clone, Debug, PartialEq)]
pub enum NamespacePlan<C> {
    /// Nothing there yet: create this object.
    Create(Box<C>),
    /// Ours but different: apply this JSON merge patch (it carries the resourceVersion it was computed from, so
    /// a concurrent change makes it fail with a conflict instead of being overwritten blindly).
    Update(Value),
    /// Ours and as wanted: no write.
    InSync,
    /// An object of that name that is not ours: left alone, the namespace is reported failed.
    NotOwned,
}

/// What to do given the `desired` child of `parent` and the one of that name that exists (if any).
pub fn plan<C: Child>(parent: &Parent<'_>, desired: C, existing: Option<&C>) -> NamespacePlan<C> {
    match existing {
        None => NamespacePlan::Create(Box::new(desired)),
        Some(existing) if controlling_owner(existing.metadata(), parent.kind) != Some(parent.name) => {
            NamespacePlan::NotOwned
        }
        Some(existing) => match update_patch(existing, &desired, parent) {
            Some(patch) => NamespacePlan::Update(patch),
            None => NamespacePlan::InSync,
        },
    }
}

/// `existing` owner references with the reference to `parent` replacing any to the same object (ESO's upsert).
fn upserted_owner_references(existing: &[OwnerReference], parent: &Parent<'_>) -> Vec<OwnerReference> {
    let ours = parent.owner_reference();
    let mut out: Vec<OwnerReference> = existing.to_vec();
    match out.iter_mut().find(|o| parent.is(o)) {
        Some(slot) => *slot = ours,
        None => out.push(ours),
    }
    out
}

/// The JSON merge patch that turns `existing` (ours) into `desired`: labels and annotations replaced exactly
/// (as ESO's create-or-update does), our owner reference upserted, the spec changed where it differs; `None`
/// when nothing differs.
pub fn update_patch<C: Child>(existing: &C, desired: &C, parent: &Parent<'_>) -> Option<Value> {
    let (have, want) = (existing.metadata(), desired.metadata());
    let mut metadata = Map::new();
    let string_map = |m: &Option<BTreeMap<String, String>>| {
        serde_json::to_value(m.clone().unwrap_or_default()).unwrap_or(Value::Null)
    };
    for (field, have, want) in
        [("labels", &have.labels, &want.labels), ("annotations", &have.annotations, &want.annotations)]
    {
        if let Some(diff) = merge_diff(&string_map(have), &string_map(want)) {
            metadata.insert(field.to_string(), diff);
        }
    }
    let owners = have.owner_references.clone().unwrap_or_default();
    let wanted_owners = upserted_owner_references(&owners, parent);
    if wanted_owners != owners {
        metadata.insert("ownerReferences".to_string(), serde_json::to_value(wanted_owners).unwrap_or(Value::Null));
    }
    let spec_diff = match (existing.spec_value(), desired.spec_value()) {
        (Some(have), Some(want)) => merge_diff(&have, &want),
        // Our own types always serialize; should they not, replace the spec as a whole.
        (_, Some(want)) => Some(want),
        (_, None) => None,
    };
    if metadata.is_empty() && spec_diff.is_none() {
        return None;
    }
    if let Some(rv) = &have.resource_version {
        metadata.insert("resourceVersion".to_string(), Value::String(rv.clone()));
    }
    let mut patch = Map::new();
    patch.insert("metadata".to_string(), Value::Object(metadata));
    if let Some(spec) = spec_diff {
        patch.insert("spec".to_string(), spec);
    }
    Some(Value::Object(patch))
}

/// The RFC 7386 JSON merge patch from `from` to `to` (`null` removes a member; arrays are replaced whole);
/// `None` when they are equal.
pub fn merge_diff(from: &Value, to: &Value) -> Option<Value> {
    match (from, to) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = Map::new();
            for key in old.keys().filter(|k| !new.contains_key(*k)) {
                patch.insert(key.clone(), Value::Null);
            }
            for (key, value) in new {
                match old.get(key) {
                    Some(previous) => {
                        if let Some(diff) = merge_diff(previous, value) {
                            patch.insert(key.clone(), diff);
                        }
                    }
                    None => {
                        patch.insert(key.clone(), value.clone());
                    }
                }
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        _ if from == to => None,
        _ => Some(to.clone()),
    }
}
