//! Generic targets (`spec.target.manifest`, behind ESO's `--unsafe-allow-generic-targets`): the ConfigMap or custom
//! resource an ExternalSecret writes instead of a Secret, as pure functions — ESO 2.9's `applyTemplateToManifest`,
//! `isGenericTargetValid` and `genericTargetContentHash`.
//!
//! - Without a template, a ConfigMap gets the data as `data`, any other kind as `spec.data`.
//! - With a template: the `template.metadata` labels and annotations, then each `templateFrom[]` entry at its
//!   `target` — `Data`, `Labels`, `Annotations`, `spec`, or a path such as `spec.slack` or `spec.rules[0].from` —
//!   then `template.data` into `data`. A `Values` result at a path is set there (parsed as YAML when it is YAML);
//!   a `KeysAndValues` result at a path is a YAML document merged into the map there (a one-step path such as
//!   `spec` is replaced).
//! - The same bookkeeping as on Secrets: the managed label, `created-by` and the controller owner reference for
//!   `creationPolicy: Owner`, and the `data-hash` annotation, which here is ESO's hash of the object's `spec` (or,
//!   without one, its `data`).
//!
//! Values go into the object as text (ConfigMap data and custom resource fields are strings), so a value that is
//! not UTF-8 is an error naming where it was going, rather than a mangled value. Errors never quote values.

use std::collections::BTreeMap;

use external_secrets_api::{
    ExternalSecret, ExternalSecretCreationPolicy, ExternalSecretDecodingStrategy, GROUP, ManifestReference,
    TemplateMergePolicy, TemplateScope,
};
use external_secrets_template::{Delimiters, Value as TemplateValue, secret_data_value};
use serde_json::{Map, Value, json};

use crate::decode::decode;
use crate::hash::{created_by_label, object_hash};
use crate::refresh::{ANNOTATION_DATA_HASH, LABEL_CREATED_BY, LABEL_MANAGED, LABEL_MANAGED_VALUE};
use crate::target::{
    NOT_COPIED_ANNOTATIONS, TargetError, TemplateItem, TemplateSources, keys_and_values, render, render_text,
    target_name, template_items,
};

/// The largest list index a target path may name (ESO's limit).
const MAX_INDEX: usize = 10_000;

/// The kind of object a generic target is, from `spec.target.manifest`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetKind {
    /// Empty for the core group (`v1` ConfigMap).
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl TargetKind {
    /// The kind `manifest` names, checked as ESO checks it (both fields required), plus what ESO lets through but
    /// cannot work: an `apiVersion` that is not `<version>` or `<group>/<version>`, and `v1` `Secret` (a Secret is
    /// the target without `manifest`).
    pub fn from_manifest(manifest: &ManifestReference) -> Result<TargetKind, TargetError> {
        if manifest.api_version.is_empty() {
            return Err(TargetError::Manifest("target.manifest.apiVersion is required".to_owned()));
        }
        if manifest.kind.is_empty() {
            return Err(TargetError::Manifest("target.manifest.kind is required".to_owned()));
        }
        let (group, version) = match manifest.api_version.split_once('/') {
            None => (String::new(), manifest.api_version.clone()),
            Some((group, version)) if !group.is_empty() && !version.is_empty() && !version.contains('/') => {
                (group.to_owned(), version.to_owned())
            }
            Some(_) => {
                return Err(TargetError::Manifest(format!(
                    "target.manifest.apiVersion {:?} is not <version> or <group>/<version>",
                    manifest.api_version
                )));
            }
        };
        let kind = TargetKind { group, version, kind: manifest.kind.clone() };
        if kind.group.is_empty() && kind.kind == "Secret" {
            return Err(TargetError::Manifest(
                "target.manifest names a Secret: leave target.manifest out to write a Secret".to_owned(),
            ));
        }
        Ok(kind)
    }

    /// `v1` or `<group>/<version>`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// Whether this is the core `v1` ConfigMap (data at `data`, the rest of kinds at `spec`).
    pub fn is_config_map(&self) -> bool {
        self.group.is_empty() && self.version == "v1" && self.kind == "ConfigMap"
    }
}

impl std::fmt::Display for TargetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.kind, self.api_version())
    }
}

/// The object to apply for a generic target.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredObject {
    /// apiVersion, kind, metadata (name, namespace, labels, annotations with the data hash, the owner reference
    /// for `Owner`) and the content the templates wrote. Holds secret values: never log it.
    pub object: Value,
    /// The `data-hash` annotation it carries: ESO's hash of what the content will be once applied.
    pub hash: String,
    /// Spec fields that have no effect on a target of this kind (ESO ignores them too), for the status message.
    pub ignored: Vec<&'static str>,
}

/// The object an ExternalSecret with `spec.target.manifest` (of `kind`) should apply, given its built `data` and
/// the `templateFrom` sources. `existing` is the object as it is now, if any: the data hash is computed over it
/// with ours merged in, as the apiserver will merge our apply into it.
pub fn desired_object(
    es: &ExternalSecret,
    kind: &TargetKind,
    data: BTreeMap<String, Vec<u8>>,
    sources: &TemplateSources,
    delimiters: &Delimiters,
    existing: Option<&Value>,
) -> Result<DesiredObject, TargetError> {
    let es_name = es.metadata.name.clone().ok_or(TargetError::MissingMeta("name"))?;
    let namespace = es.metadata.namespace.clone().ok_or(TargetError::MissingMeta("namespace"))?;
    let name = target_name(es);
    let target = &es.spec.target;
    let content_key = if kind.is_config_map() { "data" } else { "spec" };
    let mut object = json!({
        "apiVersion": kind.api_version(),
        "kind": kind.kind,
        "metadata": {"name": name, "namespace": namespace, "labels": {}, "annotations": {}},
        content_key: {},
    });

    match &target.template {
        None => {
            let labels = es.metadata.labels.clone().unwrap_or_default();
            let annotations = es.metadata.annotations.clone().unwrap_or_default().into_iter();
            let annotations = annotations.filter(|(k, _)| !NOT_COPIED_ANNOTATIONS.contains(&k.as_str())).collect();
            set_meta_map(&mut object, "labels", labels);
            set_meta_map(&mut object, "annotations", annotations);
            let mut text = Map::new();
            for (key, value) in data {
                let value = utf8(&format!("data key {key:?}"), kind, value)?;
                text.insert(key, Value::String(value));
            }
            if kind.is_config_map() {
                object["data"] = Value::Object(text);
            } else {
                object["spec"]["data"] = Value::Object(text);
            }
        }
        Some(template) => {
            if template.engine_version != external_secrets_api::TEMPLATE_ENGINE_V2 {
                return Err(TargetError::EngineVersion(template.engine_version.clone()));
            }
            let context = secret_data_value(&data);
            let meta = template.metadata.clone().unwrap_or_default();
            let mut labels = BTreeMap::new();
            for (key, text) in &meta.labels {
                let field = format!("spec.target.template.metadata.labels[{key}]");
                labels.insert(key.clone(), render_text(&field, text, &context, delimiters)?);
            }
            let mut annotations = BTreeMap::new();
            for (key, text) in &meta.annotations {
                let field = format!("spec.target.template.metadata.annotations[{key}]");
                annotations.insert(key.clone(), render_text(&field, text, &context, delimiters)?);
            }
            set_meta_map(&mut object, "labels", labels);
            set_meta_map(&mut object, "annotations", annotations);
            let mut writer = Writer { object: &mut object, kind, context: &context, delimiters };
            for (i, from) in template.template_from.iter().enumerate() {
                let field = format!("spec.target.template.templateFrom[{i}]");
                let place = Place::parse(&format!("{field}.target"), &from.target)?;
                let decoding = from.values_decoding_strategy.unwrap_or_default();
                for item in template_items(&field, from, sources)? {
                    writer.apply(&item, &place, decoding)?;
                }
            }
            for (key, text) in &template.data {
                let item = TemplateItem {
                    key: key.clone(),
                    text: text.clone(),
                    scope: TemplateScope::Values,
                    field: format!("spec.target.template.data[{key}]"),
                };
                writer.apply(&item, &Place::Data, ExternalSecretDecodingStrategy::None)?;
            }
        }
    }
    check_identity(&object, kind, &name, &namespace)?;

    let mut labels = meta_map(&object, "labels");
    labels.insert(LABEL_MANAGED.to_owned(), LABEL_MANAGED_VALUE.to_owned());
    if target.creation_policy == ExternalSecretCreationPolicy::Owner {
        let uid = es.metadata.uid.clone().ok_or(TargetError::MissingMeta("uid"))?;
        labels.insert(LABEL_CREATED_BY.to_owned(), created_by_label(&namespace, &es_name));
        object["metadata"]["ownerReferences"] = json!([{
            "apiVersion": format!("{GROUP}/v1"),
            "kind": "ExternalSecret",
            "name": es_name,
            "uid": uid,
            "controller": true,
            "blockOwnerDeletion": true,
        }]);
    } else if let Some(meta) = object["metadata"].as_object_mut() {
        // ESO removes its controller reference and `created-by` when the policy is not Owner.
        meta.remove("ownerReferences");
        labels.remove(LABEL_CREATED_BY);
    }
    set_meta_map(&mut object, "labels", labels);

    let predicted = match existing {
        Some(existing) => merged(existing, &object),
        None => object.clone(),
    };
    let hash = content_hash(&predicted);
    let mut annotations = meta_map(&object, "annotations");
    annotations.insert(ANNOTATION_DATA_HASH.to_owned(), hash.clone());
    set_meta_map(&mut object, "annotations", annotations);

    let mut ignored = Vec::new();
    if target.immutable {
        if kind.is_config_map() {
            object["immutable"] = Value::Bool(true);
        } else {
            ignored.push("spec.target.immutable");
        }
    }
    if let Some(template) = &target.template {
        if template.type_.as_deref().is_some_and(|t| !t.is_empty()) {
            ignored.push("spec.target.template.type");
        }
        if template.merge_policy == TemplateMergePolicy::Merge {
            ignored.push("spec.target.template.mergePolicy");
        }
        if template.metadata.as_ref().is_some_and(|m| !m.finalizers.is_empty()) {
            ignored.push("spec.target.template.metadata.finalizers");
        }
    }
    // An empty content map claims nothing, and a kind without that field would refuse it.
    if let Some(members) = object.as_object_mut()
        && members.get(content_key).is_some_and(|c| c.as_object().is_some_and(Map::is_empty))
    {
        members.remove(content_key);
    }
    Ok(DesiredObject { object, hash, ignored })
}

/// ESO's `genericTargetContentHash`: the hash of the object's `spec` when it has one, else of its `data`. An
/// object with neither (an empty ConfigMap) hashes as an empty map, where ESO fails.
pub fn content_hash(object: &Value) -> String {
    let content = ["spec", "data"].iter().find_map(|key| object.get(*key).filter(|v| !v.is_null()));
    object_hash(content.unwrap_or(&Value::Object(Map::new())))
}

/// ESO's `isGenericTargetValid`: an `Orphan` target is always valid (never repaired); otherwise the object must
/// exist, carry the managed label, and its content must still hash to its `data-hash` annotation.
pub fn target_valid(existing: Option<&Value>, policy: ExternalSecretCreationPolicy) -> bool {
    if policy == ExternalSecretCreationPolicy::Orphan {
        return true;
    }
    let Some(existing) = existing else { return false };
    let metadata = &existing["metadata"];
    if metadata["labels"][LABEL_MANAGED].as_str() != Some(LABEL_MANAGED_VALUE) {
        return false;
    }
    metadata["annotations"][ANNOTATION_DATA_HASH].as_str() == Some(content_hash(existing).as_str())
}

/// `base` with `ours` merged in: maps merged key by key, anything else replaced by ours.
fn merged(base: &Value, ours: &Value) -> Value {
    match (base, ours) {
        (Value::Object(base), Value::Object(ours)) => {
            let mut out = base.clone();
            for (key, value) in ours {
                let merged_value = match out.get(key) {
                    Some(existing) => merged(existing, value),
                    None => value.clone(),
                };
                out.insert(key.clone(), merged_value);
            }
            Value::Object(out)
        }
        (_, ours) => ours.clone(),
    }
}

fn meta_map(object: &Value, which: &str) -> BTreeMap<String, String> {
    object["metadata"][which]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
        .unwrap_or_default()
}

fn set_meta_map(object: &mut Value, which: &str, map: BTreeMap<String, String>) {
    object["metadata"][which] = Value::Object(map.into_iter().map(|(k, v)| (k, Value::String(v))).collect());
}

/// The templates may write anywhere in the object, but not what names it.
fn check_identity(object: &Value, kind: &TargetKind, name: &str, namespace: &str) -> Result<(), TargetError> {
    let same = object["apiVersion"].as_str() == Some(kind.api_version().as_str())
        && object["kind"].as_str() == Some(kind.kind.as_str())
        && object["metadata"]["name"].as_str() == Some(name)
        && object["metadata"]["namespace"].as_str() == Some(namespace);
    if same {
        Ok(())
    } else {
        Err(TargetError::Manifest(
            "spec.target.template: a template target may not change the target's apiVersion, kind, name or namespace"
                .to_owned(),
        ))
    }
}

fn utf8(field: &str, kind: &TargetKind, value: Vec<u8>) -> Result<String, TargetError> {
    String::from_utf8(value).map_err(|_| {
        TargetError::Manifest(format!("{field}: the value is not UTF-8 text, which a {} field must hold", kind.kind))
    })
}

/// Where a template result goes (ESO's `applyToTarget`, its well-known targets matched case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    Annotations,
    Labels,
    Data,
    Spec,
    Path(Vec<Step>),
}

impl Place {
    fn parse(field: &str, target: &str) -> Result<Place, TargetError> {
        Ok(match target.to_ascii_lowercase().as_str() {
            "" | "data" => Place::Data,
            "annotations" => Place::Annotations,
            "labels" => Place::Labels,
            "spec" => Place::Spec,
            _ => Place::Path(parse_path(target).map_err(|e| TargetError::Manifest(format!("{field}: {e}")))?),
        })
    }
}

/// One step of a target path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// ESO's `parseTargetPath`: dot-separated keys, each optionally followed by `[index]`s; it must start with a key.
fn parse_path(target: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for segment in target.split('.') {
        if segment.is_empty() {
            return Err(format!("invalid path {target:?}: empty segment"));
        }
        let (name, mut rest) = match segment.find('[') {
            Some(i) => segment.split_at(i),
            None => (segment, ""),
        };
        if !name.is_empty() {
            steps.push(Step::Key(name.to_owned()));
        } else if rest.is_empty() {
            return Err(format!("invalid path {target:?}: empty segment"));
        }
        while !rest.is_empty() {
            let Some(inner) = rest.strip_prefix('[') else {
                return Err(format!("invalid path {target:?}: expected '[' near {rest:?}"));
            };
            let Some(end) = inner.find(']') else {
                return Err(format!("invalid path {target:?}: unterminated '['"));
            };
            let text = &inner[..end];
            let index: i64 = text.parse().map_err(|_| format!("invalid path {target:?}: bad index {text:?}"))?;
            if index < 0 {
                return Err(format!("invalid path {target:?}: negative index {index}"));
            }
            let index = usize::try_from(index).unwrap_or(usize::MAX);
            if index > MAX_INDEX {
                return Err(format!("invalid path {target:?}: index {index} exceeds maximum ({MAX_INDEX})"));
            }
            steps.push(Step::Index(index));
            rest = &inner[end + 1..];
        }
    }
    match steps.first() {
        None => Err(format!("invalid path: {target}")),
        Some(Step::Index(_)) => Err(format!("invalid path {target:?}: path must start with a key")),
        Some(Step::Key(_)) => Ok(steps),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

/// ESO's `setAtPath`: walks `steps` from `node`, creating maps and growing lists (with nulls) on the way, and
/// replaces the value at the end with `leaf(existing value)`.
fn set_at_path(node: &mut Value, steps: &[Step], leaf: &mut dyn FnMut(Value) -> Value) -> Result<(), String> {
    let Some((step, rest)) = steps.split_first() else {
        let existing = std::mem::take(node);
        *node = leaf(existing);
        return Ok(());
    };
    match step {
        Step::Key(key) => {
            if node.is_null() {
                *node = Value::Object(Map::new());
            }
            let Value::Object(members) = node else {
                return Err(format!("expected map at key {key:?} but found {}", type_name(node)));
            };
            set_at_path(members.entry(key.clone()).or_insert(Value::Null), rest, leaf)
        }
        Step::Index(index) => {
            if node.is_null() {
                *node = Value::Array(Vec::new());
            }
            let Value::Array(items) = node else {
                return Err(format!("expected list at index {index} but found {}", type_name(node)));
            };
            if items.len() <= *index {
                items.resize(index + 1, Value::Null);
            }
            set_at_path(&mut items[*index], rest, leaf)
        }
    }
}

/// A YAML document as JSON (Kubernetes' YAML → JSON conversion: keys become strings).
fn yaml_to_json(value: serde_yaml::Value) -> Option<Value> {
    Some(match value {
        serde_yaml::Value::Null => Value::Null,
        serde_yaml::Value::Bool(b) => Value::Bool(b),
        serde_yaml::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(serde_json::Number::from_f64(n.as_f64()?)?)
            }
        }
        serde_yaml::Value::String(s) => Value::String(s),
        serde_yaml::Value::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect::<Option<_>>()?),
        serde_yaml::Value::Mapping(members) => {
            let mut out = Map::new();
            for (key, value) in members {
                let key = match key {
                    serde_yaml::Value::String(s) => s,
                    serde_yaml::Value::Bool(b) => b.to_string(),
                    serde_yaml::Value::Number(n) => n.to_string(),
                    _ => return None,
                };
                out.insert(key, yaml_to_json(value)?);
            }
            Value::Object(out)
        }
        serde_yaml::Value::Tagged(tagged) => yaml_to_json(tagged.value)?,
    })
}

/// ESO's `tryParseYAML`: the text's YAML value when it parses, else the text itself.
fn yaml_or_text(text: String) -> Value {
    serde_yaml::from_str::<serde_yaml::Value>(&text).ok().and_then(yaml_to_json).unwrap_or(Value::String(text))
}

/// Renders templates into the object being built.
struct Writer<'a> {
    object: &'a mut Value,
    kind: &'a TargetKind,
    context: &'a TemplateValue,
    delimiters: &'a Delimiters,
}

impl Writer<'_> {
    /// Renders `item` and puts the result at `place` (ESO's `valueScopeApply` / `mapScopeApply`).
    fn apply(
        &mut self,
        item: &TemplateItem,
        place: &Place,
        decoding: ExternalSecretDecodingStrategy,
    ) -> Result<(), TargetError> {
        let rendered = render(&item.field, &item.text, self.context, self.delimiters)?;
        let decode_error =
            |e: crate::decode::DecodeError| TargetError::Template { field: item.field.clone(), message: e.to_string() };
        match (item.scope, place) {
            (TemplateScope::Values, _) => {
                let value = decode(decoding, &rendered).map_err(decode_error)?;
                self.put(&item.field, &item.key, value, place)
            }
            (TemplateScope::KeysAndValues, Place::Annotations | Place::Labels | Place::Data) => {
                let text = String::from_utf8_lossy(&rendered);
                for (key, value) in keys_and_values(&item.field, &text, self.context)? {
                    let value = decode(decoding, value.as_bytes()).map_err(decode_error)?;
                    self.put(&item.field, &key, value, place)?;
                }
                Ok(())
            }
            (TemplateScope::KeysAndValues, Place::Spec | Place::Path(_)) => {
                let text = utf8(&item.field, self.kind, rendered)?;
                let not_yaml = || TargetError::Template {
                    field: item.field.clone(),
                    // The parser's message may quote the document, which holds secret values.
                    message: "the rendered text is not a YAML document".to_owned(),
                };
                let parsed = serde_yaml::from_str(&text).map_err(|_| not_yaml())?;
                let parsed = yaml_to_json(parsed).ok_or_else(not_yaml)?;
                let spec = [Step::Key("spec".to_owned())];
                let steps = match place {
                    Place::Path(steps) => steps.as_slice(),
                    _ => &spec,
                };
                // One step (`spec`): replaced whole; deeper: merged into the map that is there.
                let replace = steps.len() == 1;
                let mut parsed = Some(parsed);
                let mut leaf = |existing: Value| {
                    let parsed = parsed.take().unwrap_or_default();
                    match (existing, parsed) {
                        (Value::Object(mut existing), Value::Object(parsed)) if !replace => {
                            existing.extend(parsed);
                            Value::Object(existing)
                        }
                        (_, parsed) => parsed,
                    }
                };
                set_at_path(self.object, steps, &mut leaf)
                    .map_err(|e| TargetError::Manifest(format!("{}: failed to set path: {e}", item.field)))
            }
        }
    }

    /// ESO's `applyToTarget` for one key and value.
    fn put(&mut self, field: &str, key: &str, value: Vec<u8>, place: &Place) -> Result<(), TargetError> {
        let text = utf8(field, self.kind, value)?;
        let (map, at) = match place {
            Place::Annotations => (&mut self.object["metadata"]["annotations"], "metadata.annotations"),
            Place::Labels => (&mut self.object["metadata"]["labels"], "metadata.labels"),
            Place::Data => (&mut self.object["data"], "data"),
            Place::Spec => (&mut self.object["spec"], "spec"),
            Place::Path(steps) => {
                let mut value = Some(yaml_or_text(text));
                let mut leaf = |_| value.take().unwrap_or_default();
                return set_at_path(self.object, steps, &mut leaf)
                    .map_err(|e| TargetError::Manifest(format!("{field}: failed to set path: {e}")));
            }
        };
        if map.is_null() {
            *map = Value::Object(Map::new());
        }
        let Value::Object(members) = map else {
            return Err(TargetError::Manifest(format!("{field}: {at} is a {}, not a map", type_name(map))));
        };
        members.insert(key.to_owned(), Value::String(text));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es(target: serde_json::Value) -> ExternalSecret {
        serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": "test-es", "namespace": "default", "uid": "abc-123",
                         "labels": {"app.kubernetes.io/instance": "my-argocd-app", "custom-label": "custom-value"},
                         "annotations": {"argocd.argoproj.io/tracking-id": "my-argocd-app:external-secrets.io/ExternalSecret:default/test-es",
                                         "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"target": target}
        }))
        .expect("ExternalSecret")
    }

    fn kind(api_version: &str, kind: &str) -> TargetKind {
        TargetKind::from_manifest(&ManifestReference { api_version: api_version.to_owned(), kind: kind.to_owned() })
            .expect("kind")
    }

    fn data(entries: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        entries.iter().map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec())).collect()
    }

    fn build(es: &ExternalSecret, kind: &TargetKind, entries: &[(&str, &str)]) -> DesiredObject {
        desired_object(es, kind, data(entries), &TemplateSources::default(), &Delimiters::default(), None)
            .expect("desired object")
    }

    fn build_err(es: &ExternalSecret, kind: &TargetKind, entries: &[(&str, &str)]) -> String {
        desired_object(es, kind, data(entries), &TemplateSources::default(), &Delimiters::default(), None)
            .expect_err("an error")
            .to_string()
    }

    // ESO: TestValidateGenericTarget, TestGetTargetGVK.
    #[test]
    fn the_kind_is_parsed_and_checked_as_eso_does() {
        let cm = kind("v1", "ConfigMap");
        assert_eq!((cm.group.as_str(), cm.version.as_str(), cm.kind.as_str()), ("", "v1", "ConfigMap"));
        assert!(cm.is_config_map());
        let app = kind("argoproj.io/v1alpha1", "Application");
        assert_eq!((app.group.as_str(), app.version.as_str()), ("argoproj.io", "v1alpha1"));
        assert_eq!(app.api_version(), "argoproj.io/v1alpha1");
        assert!(!app.is_config_map());
        let err = |api_version: &str, kind: &str| {
            TargetKind::from_manifest(&ManifestReference { api_version: api_version.to_owned(), kind: kind.to_owned() })
                .expect_err("refused")
                .to_string()
        };
        assert!(err("", "ConfigMap").contains("apiVersion is required"));
        assert!(err("v1", "").contains("kind is required"));
        assert!(err("a/b/c", "X").contains("\"a/b/c\" is not <version> or <group>/<version>"));
        assert!(err("v1", "Secret").contains("leave target.manifest out"));
    }

    // ESO: TestApplyTemplateToManifest_SimpleConfigMap, TestCreateSimpleManifest.
    #[test]
    fn without_a_template_a_config_map_gets_data_and_the_managed_label() {
        let es = es(json!({"name": "test-configmap", "creationPolicy": "Orphan",
                           "manifest": {"apiVersion": "v1", "kind": "ConfigMap"}}));
        let out = build(&es, &kind("v1", "ConfigMap"), &[("key1", "value1"), ("key2", "value2")]);
        let o = &out.object;
        assert_eq!((o["apiVersion"].as_str(), o["kind"].as_str()), (Some("v1"), Some("ConfigMap")));
        assert_eq!(o["metadata"]["name"], "test-configmap");
        assert_eq!(o["metadata"]["namespace"], "default");
        assert_eq!(o["data"], json!({"key1": "value1", "key2": "value2"}));
        assert_eq!(o["metadata"]["labels"][LABEL_MANAGED], "true");
        // ESO's TestApplyTemplateToManifest_CopiesESLabelsAndAnnotations: the ExternalSecret's own metadata is
        // copied (kubectl's last-applied-configuration left out, as on Secrets).
        assert_eq!(o["metadata"]["labels"]["custom-label"], "custom-value");
        assert_eq!(
            o["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"],
            "my-argocd-app:external-secrets.io/ExternalSecret:default/test-es"
        );
        assert!(o["metadata"]["annotations"].get("kubectl.kubernetes.io/last-applied-configuration").is_none());
        // The hash is ESO's ObjectHash of the data (hack/tools/object-hash-golden).
        assert_eq!(out.hash, "0cf13e4753b5b20b98510b66c92f3fe461f6a88f24e700794e6b640e");
        assert_eq!(o["metadata"]["annotations"][ANNOTATION_DATA_HASH], out.hash);
        assert!(o["metadata"].get("ownerReferences").is_none(), "Orphan: no owner reference");
        assert!(o["metadata"]["labels"].get(LABEL_CREATED_BY).is_none());
    }

    // ESO: TestCreateSimpleManifest ("Custom resource with spec.data").
    #[test]
    fn without_a_template_another_kind_gets_spec_data() {
        let es = es(json!({"manifest": {"apiVersion": "example.com/v1", "kind": "Widget"}}));
        let out = build(&es, &kind("example.com/v1", "Widget"), &[("config", "my-config")]);
        assert_eq!(out.object["spec"], json!({"data": {"config": "my-config"}}));
        assert!(out.object.get("data").is_none());
        assert_eq!(out.hash, "c5bb795e11d75c241d40df4b26355b079a7c12ed286672551664546e");
    }

    // ESO: TestApplyTemplateToManifest_AppliesOwnershipWhenCreationPolicyOwner.
    #[test]
    fn owner_policy_adds_the_controller_reference_and_created_by() {
        let es = es(json!({"creationPolicy": "Owner", "manifest": {"apiVersion": "v1", "kind": "ConfigMap"}}));
        let out = build(&es, &kind("v1", "ConfigMap"), &[("key", "val")]);
        let owners = out.object["metadata"]["ownerReferences"].as_array().expect("owners");
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0]["name"], "test-es");
        assert_eq!(owners[0]["uid"], "abc-123");
        assert_eq!(owners[0]["controller"], true);
        assert_eq!(owners[0]["kind"], "ExternalSecret");
        assert_eq!(out.object["metadata"]["labels"][LABEL_CREATED_BY], created_by_label("default", "test-es"));
    }

    // ESO: TestApplyTemplateToManifest_WithMetadata, _TemplateMetadataWinsOverESLabels.
    #[test]
    fn template_metadata_replaces_the_external_secrets_metadata() {
        let es = es(json!({"manifest": {"apiVersion": "v1", "kind": "ConfigMap"},
                           "template": {"metadata": {"labels": {"app": "explicit-template-label", "tier": "backend"},
                                                     "annotations": {"description": "This is a test"}}}}));
        let out = build(&es, &kind("v1", "ConfigMap"), &[("config", "test-config")]);
        let labels = &out.object["metadata"]["labels"];
        assert_eq!(labels["app"], "explicit-template-label");
        assert_eq!(labels["tier"], "backend");
        assert!(labels.get("app.kubernetes.io/instance").is_none());
        assert_eq!(out.object["metadata"]["annotations"]["description"], "This is a test");
        // A template without data or templateFrom writes no data (ESO's renderTemplatedManifest).
        assert!(out.object.get("data").is_none(), "{:?}", out.object);
    }

    // ESO: TestApplyTemplateToManifest_LiteralWithDeployment.
    #[test]
    fn a_literal_at_spec_replaces_the_spec_with_the_parsed_yaml() {
        let es = es(json!({"manifest": {"apiVersion": "apps/v1", "kind": "Deployment"},
                           "template": {"templateFrom": [{"target": "spec", "literal":
            "replicas: {{ .replicas }}\nselector:\n  matchLabels:\n    app: myapp\ntemplate:\n  metadata:\n    labels:\n      app: myapp\n  spec:\n    containers:\n    - name: nginx\n      image: nginx:{{ .version }}\n"}]}}));
        let out = build(&es, &kind("apps/v1", "Deployment"), &[("replicas", "3"), ("version", "1.21")]);
        assert_eq!(out.object["spec"]["replicas"], json!(3), "an integer, as ESO's YAML parsing gives");
        let containers = out.object["spec"]["template"]["spec"]["containers"].as_array().expect("containers");
        assert_eq!(containers.len(), 1);
        assert_eq!(containers[0]["image"], "nginx:1.21");
    }

    // ESO: TestApplyTemplateToManifest_MergeBehavior — the literal merged into the map at spec.slack, and the hash
    // covering the existing object's content merged with ours.
    #[test]
    fn a_literal_at_a_deeper_path_merges_into_the_map_there() {
        let es = es(
            json!({"creationPolicy": "Merge", "manifest": {"apiVersion": "notification.toolkit.fluxcd.io/v1beta1", "kind": "Provider"},
                           "template": {"templateFrom": [{"target": "spec.slack", "literal": "api_url: {{ .url }}"}]}}),
        );
        let existing = json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta1", "kind": "Provider",
                              "metadata": {"name": "test-es", "namespace": "default"},
                              "spec": {"type": "slack", "slack": {"channel": "general", "username": "bot"}}});
        let k = kind("notification.toolkit.fluxcd.io/v1beta1", "Provider");
        let url = [("url", "https://hooks.slack.com/services/XXX")];
        let out =
            desired_object(&es, &k, data(&url), &TemplateSources::default(), &Delimiters::default(), Some(&existing))
                .expect("desired");
        assert_eq!(out.object["spec"], json!({"slack": {"api_url": "https://hooks.slack.com/services/XXX"}}));
        let whole = json!({"type": "slack", "slack": {"channel": "general", "username": "bot",
                                                      "api_url": "https://hooks.slack.com/services/XXX"}});
        assert_eq!(out.hash, object_hash(&whole), "the hash covers what the object holds after the apply");
    }

    #[test]
    fn values_at_a_path_are_parsed_as_yaml_and_template_data_goes_to_data() {
        let es = es(json!({"manifest": {"apiVersion": "example.com/v1", "kind": "Widget"},
                           "template": {"data": {"token": "{{ .token }}"},
                                        "templateFrom": [
                                            {"target": "spec.db.port", "literal": "{{ .port }}"},
                                            {"target": "Labels", "literal": "team: {{ .team }}"},
                                            {"target": "spec.hosts[1]", "literal": "{{ .host }}"}]}}));
        let out = build(
            &es,
            &kind("example.com/v1", "Widget"),
            &[("token", "t0k"), ("port", "5432"), ("team", "a"), ("host", "h")],
        );
        // KeysAndValues at a path: the rendered YAML document itself (a number; a string).
        assert_eq!(out.object["spec"]["db"]["port"], json!(5432));
        assert_eq!(out.object["spec"]["hosts"], json!([null, "h"]));
        assert_eq!(out.object["metadata"]["labels"]["team"], "a");
        assert_eq!(out.object["data"], json!({"token": "t0k"}));
        assert_eq!(out.hash, object_hash(&out.object["spec"]), "spec wins over data for the hash");
    }

    #[test]
    fn config_map_template_items_render_into_their_target() {
        let es = es(json!({"manifest": {"apiVersion": "v1", "kind": "ConfigMap"},
                           "template": {"templateFrom": [
                               {"configMap": {"name": "tpl", "items": [{"key": "app.yaml"}, {"key": "pairs", "templateAs": "KeysAndValues"}]}},
                               {"configMap": {"name": "tpl", "items": [{"key": "note"}]}, "target": "Annotations"}]}}));
        let sources = TemplateSources {
            config_maps: BTreeMap::from([(
                "tpl".to_owned(),
                BTreeMap::from([
                    ("app.yaml".to_owned(), "user: {{ .user }}".to_owned()),
                    ("pairs".to_owned(), "A: '{{ .user }}-a'\nB: b".to_owned()),
                    ("note".to_owned(), "for {{ .user }}".to_owned()),
                ]),
            )]),
            secrets: BTreeMap::new(),
        };
        let out = desired_object(
            &es,
            &kind("v1", "ConfigMap"),
            data(&[("user", "app")]),
            &sources,
            &Delimiters::default(),
            None,
        )
        .expect("desired");
        assert_eq!(out.object["data"], json!({"app.yaml": "user: app", "A": "app-a", "B": "b"}));
        assert_eq!(out.object["metadata"]["annotations"]["note"], "for app");
    }

    #[test]
    fn bad_paths_and_binary_values_are_named_without_values() {
        let bad = es(json!({"manifest": {"apiVersion": "v1", "kind": "ConfigMap"},
                            "template": {"templateFrom": [{"target": "spec..x", "literal": "a: b"}]}}));
        let text = build_err(&bad, &kind("v1", "ConfigMap"), &[]);
        assert!(text.contains("templateFrom[0].target") && text.contains("empty segment"), "{text}");

        let binary = es(json!({"manifest": {"apiVersion": "v1", "kind": "ConfigMap"}}));
        let out = desired_object(
            &binary,
            &kind("v1", "ConfigMap"),
            BTreeMap::from([("blob".to_owned(), vec![0xff, 0xfe, b's'])]),
            &TemplateSources::default(),
            &Delimiters::default(),
            None,
        );
        let text = out.expect_err("not text").to_string();
        assert!(text.contains("data key \"blob\"") && text.contains("not UTF-8"), "{text}");

        let not_yaml = es(json!({"manifest": {"apiVersion": "example.com/v1", "kind": "Widget"},
                                 "template": {"templateFrom": [{"target": "spec.x", "literal": "{{ .v }}: [unclosed"}]}}));
        let text = build_err(&not_yaml, &kind("example.com/v1", "Widget"), &[("v", "secret-value-x")]);
        assert!(text.contains("not a YAML document") && !text.contains("secret-value-x"), "{text}");

        let rename = es(json!({"manifest": {"apiVersion": "v1", "kind": "ConfigMap"},
                               "template": {"templateFrom": [{"target": "metadata.name", "literal": "other"}]}}));
        assert!(build_err(&rename, &kind("v1", "ConfigMap"), &[]).contains("may not change"));
    }

    // ESO: parseTargetPath's table.
    #[test]
    fn paths_parse_as_eso_parses_them() {
        assert_eq!(
            parse_path("spec.rules[0].from[2].notRemoteIpBlocks"),
            Ok(vec![
                Step::Key("spec".into()),
                Step::Key("rules".into()),
                Step::Index(0),
                Step::Key("from".into()),
                Step::Index(2),
                Step::Key("notRemoteIpBlocks".into()),
            ])
        );
        assert_eq!(parse_path("spec.headers.customRequestHeaders").map(|s| s.len()), Ok(3), "case kept");
        assert!(parse_path("[0].a").expect_err("index first").contains("must start with a key"));
        assert!(parse_path("a[x]").expect_err("bad").contains("bad index \"x\""));
        assert!(parse_path("a[-1]").expect_err("negative").contains("negative index -1"));
        assert!(parse_path("a[10001]").expect_err("big").contains("exceeds maximum (10000)"));
        assert!(parse_path("a[1").expect_err("open").contains("unterminated '['"));
        assert!(parse_path("a[1]x").expect_err("junk").contains("expected '[' near \"x\""));
        assert!(parse_path("a.").expect_err("empty").contains("empty segment"));
    }

    // ESO: TestGenericTargetContentHash, TestIsGenericTargetValid.
    #[test]
    fn content_hash_and_validity_follow_eso() {
        let spec = json!({"key": "val"});
        assert_eq!(content_hash(&json!({"spec": spec, "data": {"b": "2"}})), object_hash(&spec), "spec preferred");
        assert_eq!(content_hash(&json!({"data": {"b": "2"}})), object_hash(&json!({"b": "2"})));
        assert_eq!(content_hash(&json!({"status": {}})), object_hash(&json!({})), "neither: an empty map");

        let owner = ExternalSecretCreationPolicy::Owner;
        assert!(target_valid(None, ExternalSecretCreationPolicy::Orphan), "orphan policy always valid");
        assert!(!target_valid(None, owner), "no target is invalid");
        let target = |labels: serde_json::Value, hash: &str| json!({"metadata": {"uid": "u", "labels": labels, "annotations": {ANNOTATION_DATA_HASH: hash}}, "spec": spec});
        let managed = json!({LABEL_MANAGED: LABEL_MANAGED_VALUE});
        assert!(!target_valid(Some(&target(json!({}), &object_hash(&spec))), owner), "not managed");
        assert!(!target_valid(Some(&target(managed.clone(), "wrong-hash")), owner), "hash mismatch");
        assert!(target_valid(Some(&target(managed, &object_hash(&spec))), owner), "matching hash");
    }

    #[test]
    fn apiserver_refusals_of_a_generic_target_keep_their_explanation_without_its_values() {
        use crate::redact::{NOT_SHOWN, refusal};
        let object = json!({"apiVersion": "example.com/v1", "kind": "Widget",
                            "metadata": {"name": "w", "labels": {"team": "payments"}},
                            "spec": {"db": {"password": "hunter2-secret", "port": 5432, "on": true}, "x": "ab"}});
        let quoted = r#"Widget.example.com "w" is invalid: spec.db.password: Invalid value: "hunter2-secret": should match '^[a-z]+$'"#;
        assert_eq!(
            refusal("Widget", "w", quoted, &object),
            format!(
                "the API server refused Widget \"w\": Widget.example.com \"w\" is invalid: spec.db.password: \
                     Invalid value: \"{NOT_SHOWN}\": should match '^[a-z]+$'"
            )
        );
        let port = refusal("Widget", "w", "spec.db.port: Invalid value: 5432: must be less than 1024", &object);
        assert!(!port.contains("5432"), "{port}");
        let label = refusal("Widget", "w", "metadata.labels: Invalid value: \"payments\": not allowed", &object);
        assert!(!label.contains("payments"), "labels may be rendered from secret data: {label}");
        let plain = r#"Widget.example.com "w" is invalid: spec.db: field not declared in schema"#;
        assert_eq!(refusal("Widget", "w", plain, &object), format!("the API server refused Widget \"w\": {plain}"));
        assert!(refusal("Widget", "w", "spec.x: ab", &object).ends_with("spec.x: ab"), "two characters are no secret");
    }

    #[test]
    fn fields_without_effect_on_the_kind_are_listed() {
        let es = es(json!({"immutable": true, "manifest": {"apiVersion": "example.com/v1", "kind": "Widget"},
                           "template": {"type": "Opaque", "mergePolicy": "Merge", "metadata": {"finalizers": ["x/y"]}}}));
        let out = build(&es, &kind("example.com/v1", "Widget"), &[]);
        assert_eq!(
            out.ignored,
            vec![
                "spec.target.immutable",
                "spec.target.template.type",
                "spec.target.template.mergePolicy",
                "spec.target.template.metadata.finalizers"
            ]
        );
        let cm = es_with_immutable_config_map();
        let out = build(&cm, &kind("v1", "ConfigMap"), &[("k", "v")]);
        assert!(out.ignored.is_empty());
        assert_eq!(out.object["immutable"], true, "a ConfigMap can be immutable");
    }

    fn es_with_immutable_config_map() -> ExternalSecret {
        es(json!({"immutable": true, "manifest": {"apiVersion": "v1", "kind": "ConfigMap"}}))
    }
}
