//! The target Secret an ExternalSecret should produce, as a pure function of the ExternalSecret, the built data and
//! the template sources (ConfigMaps and Secrets named by `templateFrom`, read by the caller), in ESO's order:
//! forbidden types refused; metadata copied (from the ExternalSecret without a template, from
//! `template.metadata` with one); data = the provider data (no template; or `mergePolicy: Merge`; or a template
//! with neither `data` nor `templateFrom`); then `templateFrom[]` in order, `template.data`, and the rendered
//! `template.metadata` labels and annotations.

use std::collections::BTreeMap;

use external_secrets_api::{
    ExternalSecret, ExternalSecretCreationPolicy, ExternalSecretTemplate, GROUP, TemplateMergePolicy, TemplateScope,
};
use external_secrets_template::{Delimiters, Template, Value, secret_data_value};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::decode::decode;
use crate::hash::{created_by_label, data_hash};
use crate::refresh::{ANNOTATION_DATA_HASH, LABEL_CREATED_BY, LABEL_MANAGED, LABEL_MANAGED_VALUE};

/// Annotations never copied from the ExternalSecret onto its Secret. ESO copies every annotation; copying
/// kubectl's last-applied-configuration only leaks the ExternalSecret's manifest into the Secret, so we don't.
pub(crate) const NOT_COPIED_ANNOTATIONS: [&str; 1] = ["kubectl.kubernetes.io/last-applied-configuration"];

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
    #[error("{0} is not supported")]
    Unsupported(String),
    #[error("unsupported template engineVersion {0:?}: only v2 exists")]
    EngineVersion(String),
    #[error("the ExternalSecret has no {0}")]
    MissingMeta(&'static str),
    /// A template failed to parse or render; `field` says which (`spec.target.template.data[tls.crt]`).
    #[error("{field}: {message}")]
    Template { field: String, message: String },
    /// A `templateFrom` source lacks a key, or is missing.
    #[error("{field}: {message}")]
    Source { field: String, message: String },
    /// A generic target (`spec.target.manifest`) cannot be built as the spec asks; the message names the field.
    #[error("{0}")]
    Manifest(String),
}

/// The ConfigMaps and Secrets (of the ExternalSecret's namespace) that `templateFrom` reads, by name.
#[derive(Default)]
pub struct TemplateSources {
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
    pub secrets: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
}

/// Shows which ConfigMaps and Secrets and which of their keys were read, never their values.
impl std::fmt::Debug for TemplateSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
        let config_maps: BTreeMap<&str, Vec<String>> =
            self.config_maps.iter().map(|(n, m)| (n.as_str(), m.keys().cloned().collect())).collect();
        let secrets: BTreeMap<&str, Vec<String>> = self.secrets.iter().map(|(n, m)| (n.as_str(), keys(m))).collect();
        f.debug_struct("TemplateSources").field("config_maps", &config_maps).field("secrets", &secrets).finish()
    }
}

/// Which ConfigMaps and Secrets `templateFrom` needs, so the caller can read them before [`desired_secret`].
pub fn template_source_names(es: &ExternalSecret) -> (Vec<String>, Vec<String>) {
    template_from_names(es.spec.target.template.as_ref())
}

/// Which ConfigMaps and Secrets the `templateFrom` of `template` reads.
pub fn template_from_names(template: Option<&ExternalSecretTemplate>) -> (Vec<String>, Vec<String>) {
    let mut config_maps = Vec::new();
    let mut secrets = Vec::new();
    if let Some(template) = template {
        for from in &template.template_from {
            if let Some(cm) = &from.config_map {
                config_maps.push(cm.name.clone());
            }
            if let Some(secret) = &from.secret {
                secrets.push(secret.name.clone());
            }
        }
    }
    config_maps.sort();
    config_maps.dedup();
    secrets.sort();
    secrets.dedup();
    (config_maps, secrets)
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
    Ok(())
}

/// Where a `templateFrom` result goes.
enum Target {
    Data,
    Annotations,
    Labels,
}

fn template_target(field: &str, target: &str) -> Result<Target, TargetError> {
    match target.to_ascii_lowercase().as_str() {
        "" | "data" => Ok(Target::Data),
        "annotations" => Ok(Target::Annotations),
        "labels" => Ok(Target::Labels),
        _ => Err(TargetError::Unsupported(format!(
            "{field}.target {target:?} for a Secret target (Data, Annotations or Labels)"
        ))),
    }
}

/// Parses and renders one template; errors name `field` and carry the engine's message with every string of
/// the data replaced (the engine's own messages hold no data, but a `fail` text is whatever the template made
/// it, often a value). The output is bytes: Secret data keeps binary values intact.
pub(crate) fn render(
    field: &str,
    text: &str,
    context: &Value,
    delimiters: &Delimiters,
) -> Result<Vec<u8>, TargetError> {
    let template_error = |e: external_secrets_template::TemplateError| TargetError::Template {
        field: field.to_string(),
        message: crate::redact::redact(&e.to_string(), &data_strings(context)).into_owned(),
    };
    Template::parse(field, text, delimiters).map_err(template_error)?.execute(context).map_err(template_error)
}

/// The text of every string in a template's data (maps and lists walked, to a bounded depth).
fn data_strings(context: &Value) -> Vec<String> {
    fn walk(value: &Value, depth: usize, out: &mut Vec<String>) {
        if depth > 64 {
            return;
        }
        match value {
            Value::String(s) => out.push(s.to_str_lossy().into_owned()),
            Value::List(items) => items.iter().for_each(|v| walk(v, depth + 1, out)),
            Value::Map(map) => map.borrow().entries.values().for_each(|v| walk(v, depth + 1, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(context, 0, &mut out);
    out
}

/// [`render`] for outputs that are text (labels, annotations, `KeysAndValues` YAML).
pub(crate) fn render_text(
    field: &str,
    text: &str,
    context: &Value,
    delimiters: &Delimiters,
) -> Result<String, TargetError> {
    render(field, text, context, delimiters).map(|out| String::from_utf8_lossy(&out).into_owned())
}

/// The rendered output of a `KeysAndValues` template: a YAML map of strings. A key named in an error is redacted
/// when it is one of the strings of `context` (the template's data): keys can be rendered from values.
pub(crate) fn keys_and_values(
    field: &str,
    rendered: &str,
    context: &Value,
) -> Result<BTreeMap<String, String>, TargetError> {
    let parsed: Option<BTreeMap<String, serde_yaml::Value>> =
        serde_yaml::from_str(rendered).map_err(|_| TargetError::Template {
            field: field.to_string(),
            // serde_yaml's message may quote the document, which holds secret values: say only what is wrong.
            message: "the rendered text is not a YAML map of keys to values".to_string(),
        })?;
    let mut out = BTreeMap::new();
    for (k, v) in parsed.unwrap_or_default() {
        let v = match v {
            serde_yaml::Value::String(s) => s,
            serde_yaml::Value::Null => String::new(),
            serde_yaml::Value::Bool(b) => b.to_string(),
            serde_yaml::Value::Number(n) => n.to_string(),
            _ => {
                return Err(TargetError::Template {
                    field: field.to_string(),
                    message: crate::redact::redact(
                        &format!("the value of {k:?} is not a string"),
                        &data_strings(context),
                    )
                    .into_owned(),
                });
            }
        };
        out.insert(k, v);
    }
    Ok(out)
}

struct Rendered {
    data: BTreeMap<String, Vec<u8>>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

impl Rendered {
    fn put(&mut self, target: &Target, key: String, value: Vec<u8>) {
        match target {
            Target::Data => {
                self.data.insert(key, value);
            }
            Target::Annotations => {
                self.annotations.insert(key, String::from_utf8_lossy(&value).into_owned());
            }
            Target::Labels => {
                self.labels.insert(key, String::from_utf8_lossy(&value).into_owned());
            }
        }
    }
}

/// One template of a `templateFrom[]` entry: a ConfigMap or Secret item, or the literal.
pub(crate) struct TemplateItem {
    /// The item's key (empty for the literal).
    pub key: String,
    pub text: String,
    pub scope: TemplateScope,
    /// Where it comes from, for messages: `spec.target.template.templateFrom[0][key]` or `...[0].literal`.
    pub field: String,
}

/// The templates of `templateFrom[]` entry `from` (named `field`), in ESO's order: ConfigMap items, Secret
/// items, then the literal (`KeysAndValues`). A missing source or key is an error naming it.
pub(crate) fn template_items(
    field: &str,
    from: &external_secrets_api::TemplateFrom,
    sources: &TemplateSources,
) -> Result<Vec<TemplateItem>, TargetError> {
    let mut items = Vec::new();
    let item = |key: &str, text: String, scope| TemplateItem {
        key: key.to_owned(),
        text,
        scope,
        field: format!("{field}[{key}]"),
    };
    if let Some(cm) = &from.config_map {
        let source = sources.config_maps.get(&cm.name).ok_or_else(|| TargetError::Source {
            field: format!("{field}.configMap"),
            message: format!("ConfigMap {:?} not found", cm.name),
        })?;
        for entry in &cm.items {
            let text = source.get(&entry.key).ok_or_else(|| TargetError::Source {
                field: format!("{field}.configMap"),
                message: format!("key {:?} not found in ConfigMap {:?}", entry.key, cm.name),
            })?;
            items.push(item(&entry.key, text.clone(), entry.template_as));
        }
    }
    if let Some(secret) = &from.secret {
        let source = sources.secrets.get(&secret.name).ok_or_else(|| TargetError::Source {
            field: format!("{field}.secret"),
            message: format!("Secret {:?} not found", secret.name),
        })?;
        for entry in &secret.items {
            let bytes = source.get(&entry.key).ok_or_else(|| TargetError::Source {
                field: format!("{field}.secret"),
                message: format!("key {:?} not found in Secret {:?}", entry.key, secret.name),
            })?;
            items.push(item(&entry.key, String::from_utf8_lossy(bytes).into_owned(), entry.template_as));
        }
    }
    if let Some(literal) = &from.literal {
        items.push(TemplateItem {
            key: String::new(),
            text: literal.clone(),
            scope: TemplateScope::KeysAndValues,
            field: format!("{field}.literal"),
        });
    }
    Ok(items)
}

/// Applies `template` to the provider `data` (ESO's `applyTemplate` for Secret targets).
fn apply_template(
    template: &ExternalSecretTemplate,
    data: BTreeMap<String, Vec<u8>>,
    sources: &TemplateSources,
    delimiters: &Delimiters,
) -> Result<Rendered, TargetError> {
    let context = secret_data_value(&data);
    let meta = template.metadata.clone().unwrap_or_default();
    let keep_provider_data = template.merge_policy == TemplateMergePolicy::Merge
        || (template.data.is_empty() && template.template_from.is_empty());
    let mut out = Rendered {
        data: if keep_provider_data { data } else { BTreeMap::new() },
        labels: meta.labels.clone(),
        annotations: meta.annotations.clone(),
    };

    for (i, from) in template.template_from.iter().enumerate() {
        let field = format!("spec.target.template.templateFrom[{i}]");
        let target = template_target(&field, &from.target)?;
        let decoding = from.values_decoding_strategy.unwrap_or_default();
        for TemplateItem { key, text, scope, field: item_field } in template_items(&field, from, sources)? {
            let rendered = render(&item_field, &text, &context, delimiters)?;
            let pairs = match scope {
                TemplateScope::Values => BTreeMap::from([(key, rendered)]),
                TemplateScope::KeysAndValues => {
                    let text = String::from_utf8_lossy(&rendered);
                    keys_and_values(&item_field, &text, &context)?
                        .into_iter()
                        .map(|(k, v)| (k, v.into_bytes()))
                        .collect()
                }
            };
            for (k, v) in pairs {
                let value = decode(decoding, &v)
                    .map_err(|e| TargetError::Template { field: item_field.clone(), message: e.to_string() })?;
                out.put(&target, k, value);
            }
        }
    }
    for (key, text) in &template.data {
        let field = format!("spec.target.template.data[{key}]");
        out.data.insert(key.clone(), render(&field, text, &context, delimiters)?);
    }
    for (key, text) in &meta.labels {
        let field = format!("spec.target.template.metadata.labels[{key}]");
        out.labels.insert(key.clone(), render_text(&field, text, &context, delimiters)?);
    }
    for (key, text) in &meta.annotations {
        let field = format!("spec.target.template.metadata.annotations[{key}]");
        out.annotations.insert(key.clone(), render_text(&field, text, &context, delimiters)?);
    }
    Ok(out)
}

/// A PushSecret's `spec.template` applied to its source's `data` (ESO's PushSecret `applyTemplate`): rendered
/// into the source's data, whose keys are kept whatever `mergePolicy` says (ESO renders into the source Secret
/// itself). Errors name `spec.template...`.
pub fn push_template_data(
    template: &ExternalSecretTemplate,
    data: BTreeMap<String, Vec<u8>>,
    sources: &TemplateSources,
    delimiters: &Delimiters,
) -> Result<BTreeMap<String, Vec<u8>>, TargetError> {
    let rename = |e: TargetError| match e {
        TargetError::Template { field, message } => {
            TargetError::Template { field: field.replacen("spec.target.template", "spec.template", 1), message }
        }
        TargetError::Source { field, message } => {
            TargetError::Source { field: field.replacen("spec.target.template", "spec.template", 1), message }
        }
        other => other,
    };
    check_template(template).map_err(rename)?;
    let mut merged = template.clone();
    merged.merge_policy = TemplateMergePolicy::Merge;
    apply_template(&merged, data, sources, delimiters).map(|r| r.data).map_err(rename)
}

/// The desired target Secret, as it is applied (server-side) with the ExternalSecret's field manager: name,
/// namespace, labels (the managed label, `created-by` for `Owner`, and the ExternalSecret's own labels or the
/// template's), annotations (the `data-hash`, and the ExternalSecret's or the template's), the controller owner
/// reference for `Owner`, the template's finalizers, the type, `immutable`, and the data (rendered through the
/// template, if any).
pub fn desired_secret(
    es: &ExternalSecret,
    data: BTreeMap<String, Vec<u8>>,
    sources: &TemplateSources,
    delimiters: &Delimiters,
) -> Result<Secret, TargetError> {
    let name = es.metadata.name.clone().ok_or(TargetError::MissingMeta("name"))?;
    let namespace = es.metadata.namespace.clone().ok_or(TargetError::MissingMeta("namespace"))?;
    let target = &es.spec.target;

    let mut finalizers = None;
    let (mut labels, mut annotations, data, type_) = match &target.template {
        Some(template) => {
            check_template(template)?;
            let rendered = apply_template(template, data, sources, delimiters)?;
            finalizers = template.metadata.as_ref().map(|m| m.finalizers.clone()).filter(|f| !f.is_empty());
            (rendered.labels, rendered.annotations, rendered.data, template.type_.clone().filter(|t| !t.is_empty()))
        }
        None => {
            let labels = es.metadata.labels.clone().unwrap_or_default();
            let annotations = es
                .metadata
                .annotations
                .clone()
                .unwrap_or_default()
                .into_iter()
                .filter(|(k, _)| !NOT_COPIED_ANNOTATIONS.contains(&k.as_str()))
                .collect();
            (labels, annotations, data, None)
        }
    };

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
            finalizers,
            ..Default::default()
        },
        type_,
        immutable: target.immutable.then_some(true),
        data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v))).collect()),
        ..Default::default()
    })
}

/// The data of a Secret after this ExternalSecret's server-side apply of `ours` into it (`creationPolicy: Merge` or
/// `CreateOrMerge` with an existing Secret): its keys from other writers are kept, the keys `manager` applied
/// before and no longer produces are removed (unless another writer owns them too, as the apiserver decides), and
/// `ours` win. ESO's `data-hash` annotation covers this whole data, not only our keys.
pub fn data_after_merge(
    existing: &Secret,
    manager: &str,
    ours: &BTreeMap<String, Vec<u8>>,
) -> BTreeMap<String, Vec<u8>> {
    let entries = existing.metadata.managed_fields.as_deref().unwrap_or_default();
    let owner = crate::ownership::FieldOwner::only(manager);
    let mine = crate::ownership::owned_by(entries, owner).data;
    let others = crate::ownership::data_owned_by_others(entries, owner);
    let mut data: BTreeMap<String, Vec<u8>> = existing
        .data
        .iter()
        .flatten()
        .filter(|(key, _)| !mine.contains(*key) || others.contains(*key))
        .map(|(key, value)| (key.clone(), value.0.clone()))
        .collect();
    data.extend(ours.iter().map(|(k, v)| (k.clone(), v.clone())));
    data
}

/// Sets `desired`'s `data-hash` annotation to the hash of `data` (see [`data_after_merge`]); returns the hash.
pub fn set_data_hash(desired: &mut Secret, data: &BTreeMap<String, Vec<u8>>) -> String {
    let hash = data_hash(data);
    desired
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(ANNOTATION_DATA_HASH.to_string(), hash.clone());
    hash
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
    fn a_push_template_renders_into_the_source_data_and_names_its_field() {
        let template: ExternalSecretTemplate = serde_json::from_value(serde_json::json!({
            "data": {"dsn": "postgres://{{ .user }}:{{ .password }}@db", "user": "{{ .user | upper }}"}
        }))
        .expect("template");
        let data = BTreeMap::from([("user".to_string(), b"app".to_vec()), ("password".to_string(), b"pw".to_vec())]);
        let out =
            push_template_data(&template, data, &TemplateSources::default(), &Delimiters::default()).expect("rendered");
        assert_eq!(out["dsn"], b"postgres://app:pw@db");
        assert_eq!(out["user"], b"APP", "the template wins over the source key");
        assert_eq!(out["password"], b"pw", "source keys are kept, as in ESO");
        let broken: ExternalSecretTemplate =
            serde_json::from_value(serde_json::json!({"data": {"x": "{{ .user "}})).expect("template");
        let err = push_template_data(&broken, BTreeMap::new(), &TemplateSources::default(), &Delimiters::default())
            .expect_err("unclosed action")
            .to_string();
        assert!(err.starts_with("spec.template.data[x]"), "{err}");
    }

    #[test]
    fn owner_policy_sets_owner_reference_labels_and_hash() {
        let data = BTreeMap::from([("foo".to_string(), b"bar".to_vec())]);
        let s =
            desired_secret(&walkthrough(), data, &TemplateSources::default(), &Delimiters::default()).expect("desired");
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
        let s =
            desired_secret(&e, BTreeMap::new(), &TemplateSources::default(), &Delimiters::default()).expect("desired");
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
        let s =
            desired_secret(&e, BTreeMap::new(), &TemplateSources::default(), &Delimiters::default()).expect("desired");
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
        assert!(matches!(
            desired_secret(&e, BTreeMap::new(), &TemplateSources::default(), &Delimiters::default()),
            Err(TargetError::ForbiddenType(_))
        ));
    }

    fn render_with(
        e: &ExternalSecret,
        data: &[(&str, &str)],
        sources: &TemplateSources,
    ) -> Result<Secret, TargetError> {
        let data = data.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect();
        desired_secret(e, data, sources, &Delimiters::default())
    }

    fn secret_data(s: &Secret) -> BTreeMap<String, String> {
        s.data
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v.0).expect("utf-8")))
            .collect()
    }

    #[test]
    fn template_data_renders_dockerconfigjson_and_replaces_provider_data() {
        let mut e = walkthrough();
        e.spec.target.template = Some(
            serde_json::from_value(serde_json::json!({
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson":
                    "{\"auths\":{\"{{ .registry }}\":{\"auth\":\"{{ printf \"%s:%s\" .username .password | b64enc }}\"}}}"}
            }))
            .expect("template"),
        );
        let s = render_with(
            &e,
            &[("registry", "r.example"), ("username", "u"), ("password", "p")],
            &TemplateSources::default(),
        )
        .expect("rendered");
        let data = secret_data(&s);
        assert_eq!(data.keys().collect::<Vec<_>>(), vec![".dockerconfigjson"]);
        assert_eq!(data[".dockerconfigjson"], r#"{"auths":{"r.example":{"auth":"dTpw"}}}"#);
        assert_eq!(s.type_.as_deref(), Some("kubernetes.io/dockerconfigjson"));
    }

    #[test]
    fn merge_policy_keeps_provider_keys_beside_rendered_ones() {
        let mut e = walkthrough();
        e.spec.target.template = Some(
            serde_json::from_value(
                serde_json::json!({"mergePolicy": "Merge", "data": {"url": "postgres://{{ .user }}@db"}}),
            )
            .expect("template"),
        );
        let data = secret_data(&render_with(&e, &[("user", "app")], &TemplateSources::default()).expect("rendered"));
        assert_eq!(data["user"], "app");
        assert_eq!(data["url"], "postgres://app@db");
    }

    #[test]
    fn template_from_config_map_literal_and_metadata_are_rendered_in_order() {
        let mut e = walkthrough();
        e.spec.target.template = Some(
            serde_json::from_value(serde_json::json!({
                "metadata": {"labels": {"app": "{{ .app | lower }}"}, "annotations": {"fixed": "yes"}},
                "templateFrom": [
                    {"configMap": {"name": "tpl", "items": [{"key": "config.yaml"}, {"key": "pairs", "templateAs": "KeysAndValues"}]}},
                    {"literal": "owner: {{ .app }}", "target": "Annotations"}
                ],
                "data": {"config.yaml": "overridden {{ .app }}"}
            }))
            .expect("template"),
        );
        let sources = TemplateSources {
            config_maps: BTreeMap::from([(
                "tpl".to_string(),
                BTreeMap::from([
                    ("config.yaml".to_string(), "app: {{ .app }}".to_string()),
                    ("pairs".to_string(), "A: '{{ .app }}-a'\nB: b".to_string()),
                ]),
            )]),
            secrets: BTreeMap::new(),
        };
        let s = render_with(&e, &[("app", "Web")], &sources).expect("rendered");
        let data = secret_data(&s);
        assert_eq!(data["config.yaml"], "overridden Web", "template.data overrides templateFrom");
        assert_eq!(data["A"], "Web-a");
        assert_eq!(data["B"], "b");
        let labels = s.metadata.labels.expect("labels");
        assert_eq!(labels["app"], "web");
        let annotations = s.metadata.annotations.expect("annotations");
        assert_eq!(annotations["owner"], "Web");
        assert_eq!(annotations["fixed"], "yes");
    }

    #[test]
    fn a_failing_template_names_the_field_and_not_the_values() {
        let mut e = walkthrough();
        e.spec.target.template =
            Some(serde_json::from_value(serde_json::json!({"data": {"x": "{{ .missing }}"}})).expect("template"));
        let err = render_with(&e, &[("present", "top-secret-value")], &TemplateSources::default()).expect_err("fails");
        let text = err.to_string();
        assert!(text.starts_with("spec.target.template.data[x]:"), "{text}");
        assert!(text.contains("missing") && !text.contains("top-secret-value"), "{text}");
    }

    #[test]
    fn a_rendered_key_whose_value_is_not_a_string_is_not_quoted_when_it_is_data() {
        let mut e = walkthrough();
        let template = serde_json::json!({"templateFrom": [{"target": "Data", "literal": "{{ .password }}: {a: b}"}]});
        e.spec.target.template = Some(serde_json::from_value(template).expect("template"));
        let err = render_with(&e, &[("password", "top-secret-key")], &TemplateSources::default()).expect_err("fails");
        let text = err.to_string();
        assert!(text.contains("is not a string") && !text.contains("top-secret-key"), "{text}");
    }

    #[test]
    fn a_fail_text_keeps_its_words_but_not_the_values_it_quotes() {
        let mut e = walkthrough();
        let template =
            serde_json::json!({"data": {"x": "{{ fail (printf \"bad password %s (%q)\" .password .password) }}"}});
        e.spec.target.template = Some(serde_json::from_value(template).expect("template"));
        let value = "top \"secret\" value";
        let err = render_with(&e, &[("password", value)], &TemplateSources::default()).expect_err("fails");
        let text = err.to_string();
        assert!(text.contains("error calling fail: bad password (value not shown) (\"(value not shown)\")"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn debug_of_template_sources_names_keys_but_never_values() {
        let sources = TemplateSources {
            config_maps: BTreeMap::from([(
                "cm".to_owned(),
                BTreeMap::from([("tpl".to_owned(), "cm-value-x".to_owned())]),
            )]),
            secrets: BTreeMap::from([("s".to_owned(), BTreeMap::from([("k".to_owned(), b"secret-value-x".to_vec())]))]),
        };
        let shown = format!("{sources:?}");
        assert!(shown.contains("tpl") && shown.contains("\"k\""), "{shown}");
        assert!(!shown.contains("secret-value-x") && !shown.contains("cm-value-x"), "{shown}");
    }

    #[test]
    fn missing_template_source_is_named() {
        let mut e = walkthrough();
        e.spec.target.template = Some(
            serde_json::from_value(
                serde_json::json!({"templateFrom": [{"configMap": {"name": "nope", "items": [{"key": "k"}]}}]}),
            )
            .expect("template"),
        );
        let err = render_with(&e, &[], &TemplateSources::default()).expect_err("missing");
        assert!(err.to_string().contains("ConfigMap \"nope\" not found"), "{err}");
    }

    #[test]
    fn data_after_merge_keeps_foreign_keys_and_drops_only_our_stale_ones() {
        let existing: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "shared", "managedFields": [
                {"manager": "kubectl-create", "operation": "Update", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:data": {".": {}, "f:foreign": {}, "f:both": {}}}},
                {"manager": "externalsecrets.external-secrets.io/app", "operation": "Apply", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:data": {"f:stale": {}, "f:both": {}, "f:password": {}}}}
            ]},
            "data": {"foreign": "Zg==", "both": "Yg==", "stale": "cw==", "password": "b2xk"}
        }))
        .expect("Secret");
        let ours = BTreeMap::from([("password".to_string(), b"new".to_vec())]);
        let data = data_after_merge(&existing, "externalsecrets.external-secrets.io/app", &ours);
        assert_eq!(
            data,
            BTreeMap::from([
                ("both".to_string(), b"b".to_vec()),
                ("foreign".to_string(), b"f".to_vec()),
                ("password".to_string(), b"new".to_vec()),
            ])
        );
        let mut desired = Secret::default();
        let hash = set_data_hash(&mut desired, &data);
        assert_eq!(hash, data_hash(&data));
        assert_eq!(desired.metadata.annotations.expect("annotations")[ANNOTATION_DATA_HASH], hash);
    }
}
