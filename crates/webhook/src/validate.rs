//! ESO's admission rules that need code (a regexp engine, Go durations, the provider registry), as pure
//! functions over the typed specs.
//!
//! The rules a schema can express (data or dataFrom present, policy combinations, one source per dataFrom
//! entry, forbidden template types, exactly one provider) are CEL rules in the CRDs (`crates/api`), so they hold
//! with the webhook off; they are not repeated here.

use std::collections::BTreeSet;

use external_secrets_api::{
    ExternalSecretCreationPolicy, ExternalSecretDeletionPolicy, ExternalSecretSpec, SecretStoreSpec, template_target,
};
use external_secrets_core::duration::parse_go_duration;
use external_secrets_provider::{ProviderError, ProviderRegistry, StoreKind};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The Secret type whose tokens ESO refuses to create for a named ServiceAccount.
const SERVICE_ACCOUNT_TOKEN_TYPE: &str = "kubernetes.io/service-account-token";
/// The annotation that binds a service-account-token Secret to a ServiceAccount.
const SERVICE_ACCOUNT_NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";

/// What admission says about one object: denied when `errors` is not empty; `warnings` go back to the client
/// either way.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Why the object is invalid, one sentence each.
    pub errors: Vec<String>,
    /// Things the user should know about an admitted object.
    pub warnings: Vec<String>,
}

impl Verdict {
    /// Whether the object may be admitted.
    pub fn allowed(&self) -> bool {
        self.errors.is_empty()
    }

    /// All errors as one message, as the API server shows it to the user.
    pub fn message(&self) -> String {
        self.errors.join("; ")
    }
}

/// ESO's ExternalSecret rules that need code: the rewrite and find regexps compile, `refreshInterval` is a Go
/// duration, `data[].secretKey` is unique under `deletionPolicy: Retain`, and a template does not make a
/// ServiceAccount token or render into an unknown part of a Secret.
pub fn external_secret(spec: &ExternalSecretSpec) -> Verdict {
    let mut errors = Vec::new();

    if let Err(e) = parse_go_duration(&spec.refresh_interval) {
        errors.push(format!("refreshInterval {:?} is not a valid duration: {e}", spec.refresh_interval));
    }

    for (i, entry) in spec.data_from.iter().enumerate() {
        if let Some(regexp) = entry.find.as_ref().and_then(|find| find.name.as_ref()).and_then(|n| n.regexp.as_ref())
            && let Err(e) = regex::Regex::new(regexp)
        {
            errors.push(format!("dataFrom[{i}].find.name.regexp {regexp:?} does not compile: {}", first_line(&e)));
        }
        for (j, rewrite) in entry.rewrite.iter().enumerate() {
            if let Some(regexp) = &rewrite.regexp
                && let Err(e) = regex::Regex::new(&regexp.source)
            {
                errors.push(format!(
                    "dataFrom[{i}].rewrite[{j}].regexp.source {:?} does not compile: {}",
                    regexp.source,
                    first_line(&e)
                ));
            }
        }
    }

    // ESO rejects duplicates only under Retain: with Delete/Merge the later key simply wins.
    if spec.target.deletion_policy == ExternalSecretDeletionPolicy::Retain {
        let mut seen = BTreeSet::new();
        let duplicates: BTreeSet<&str> =
            spec.data.iter().map(|d| d.secret_key.as_str()).filter(|key| !seen.insert(*key)).collect();
        if !duplicates.is_empty() {
            let keys: Vec<_> = duplicates.into_iter().collect();
            errors.push(format!("duplicate secretKey in data: {}", keys.join(", ")));
        }
    }

    if let Some(template) = &spec.target.template {
        let secret_target = spec.target.manifest.is_none();
        if template.type_.as_deref() == Some(SERVICE_ACCOUNT_TOKEN_TYPE) {
            let annotated =
                template.metadata.as_ref().is_some_and(|m| m.annotations.contains_key(SERVICE_ACCOUNT_NAME_ANNOTATION));
            let annotations_from_templates =
                template.template_from.iter().any(|t| t.target.eq_ignore_ascii_case(template_target::ANNOTATIONS));
            if annotated || annotations_from_templates {
                errors.push(format!(
                    "a template of type {SERVICE_ACCOUNT_TOKEN_TYPE} must not set the annotation \
                     {SERVICE_ACCOUNT_NAME_ANNOTATION} (or render annotations): it would mint a token for that \
                     ServiceAccount"
                ));
            }
        }
        if secret_target {
            for (i, from) in template.template_from.iter().enumerate() {
                let known = [template_target::DATA, template_target::ANNOTATIONS, template_target::LABELS];
                if !from.target.is_empty() && !known.iter().any(|k| from.target.eq_ignore_ascii_case(k)) {
                    errors.push(format!(
                        "target.template.templateFrom[{i}].target {:?} is not one of Data, Annotations, Labels",
                        from.target
                    ));
                }
            }
        }
    }

    let mut warnings = Vec::new();
    if spec.target.creation_policy == ExternalSecretCreationPolicy::Orphan
        && spec.target.deletion_policy == ExternalSecretDeletionPolicy::Delete
    {
        warnings.push(
            "creationPolicy=Orphan with deletionPolicy=Delete: the Secret is deleted when all provider secrets are \
             gone, but kept when the ExternalSecret is deleted"
                .to_string(),
        );
    }
    Verdict { errors, warnings }
}

/// Whether a namespace regexp can only match a whole name: it starts with `^` (or `\A`) and ends with an
/// unescaped `$` (or `\z`). ESO matches namespaceRegexes unanchored, so anything else also admits longer names.
fn fully_anchored(regexp: &str) -> bool {
    let starts = regexp.starts_with('^') || regexp.starts_with("\\A");
    let ends = if let Some(rest) = regexp.strip_suffix('$') {
        // `\$` is a literal dollar: count the backslashes before it.
        rest.chars().rev().take_while(|c| *c == '\\').count() % 2 == 0
    } else {
        regexp.ends_with("\\z") && !regexp.ends_with("\\\\z")
    };
    starts && ends
}

/// ESO's store rules that need code: `conditions[].namespaceRegexes` compile, `refreshInterval` is a
/// non-negative number of seconds or Go duration, and the provider's own static checks pass. A provider this
/// binary does not implement is admitted with a warning (its store is kept as written).
pub fn store(spec: &SecretStoreSpec, kind: StoreKind, registry: &ProviderRegistry) -> Verdict {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();

    for (i, condition) in spec.conditions.iter().enumerate() {
        for (j, regexp) in condition.namespace_regexes.iter().enumerate() {
            match regex::Regex::new(regexp) {
                Err(e) => errors.push(format!(
                    "conditions[{i}].namespaceRegexes[{j}] {regexp:?} does not compile: {}",
                    first_line(&e)
                )),
                Ok(_) if !fully_anchored(regexp) => warnings.push(format!(
                    "conditions[{i}].namespaceRegexes[{j}] {regexp:?} is not anchored: as in ESO it admits every \
                     namespace whose name contains a match (\"team-a\" admits \"evil-team-a\"); write \
                     \"^...$\" to admit whole names only"
                )),
                Ok(_) => {}
            }
        }
    }
    if !spec.conditions.is_empty() && kind == StoreKind::SecretStore {
        warnings.push("conditions only apply to a ClusterSecretStore; they are ignored on a SecretStore".to_string());
    }

    match &spec.refresh_interval {
        Some(IntOrString::Int(seconds)) if *seconds < 0 => {
            errors.push(format!("refreshInterval {seconds} must not be negative"));
        }
        Some(IntOrString::String(text)) if !text.is_empty() => match parse_go_duration(text) {
            Ok(duration) if duration.as_nanos() < 0 => {
                errors.push(format!("refreshInterval {text:?} must not be negative"));
            }
            Ok(_) => {}
            Err(e) => errors.push(format!("refreshInterval {text:?} is not a valid duration: {e}")),
        },
        _ => {}
    }

    match registry.for_spec(spec) {
        Ok(provider) => {
            if let Err(e) = provider.validate_spec(spec, kind) {
                errors.push(format!("spec.provider.{}: {e}", provider.kind()));
            }
        }
        // Stores of providers we do not implement are kept verbatim (the CRD preserves them); the controller
        // marks them not Ready. Refusing them here would break GitOps repositories that hold both.
        Err(ProviderError::Unsupported(why)) => warnings.push(why),
        Err(e) => errors.push(e.to_string()),
    }
    Verdict { errors, warnings }
}

/// The first line of a regex error (the crate's messages draw a multi-line caret diagram).
fn first_line(e: &regex::Error) -> String {
    let text = e.to_string();
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    // regex renders "regex parse error:\n    <pattern>\n    ^\nerror: <what>"; the last line says what.
    lines.last().map(|l| l.to_string()).unwrap_or(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use external_secrets_api::{ExternalSecretSpec, SecretStoreSpec};
    use serde_json::json;

    use super::*;

    fn es(spec: serde_json::Value) -> ExternalSecretSpec {
        serde_json::from_value(spec).unwrap()
    }

    fn store_spec(spec: serde_json::Value) -> SecretStoreSpec {
        serde_json::from_value(spec).unwrap()
    }

    fn registry() -> ProviderRegistry {
        ProviderRegistry::new().with(Arc::new(FakeOnly))
    }

    /// A `fake` provider whose static check refuses a store without data.
    struct FakeOnly;

    #[async_trait::async_trait]
    impl external_secrets_provider::Provider for FakeOnly {
        type Spec = external_secrets_api::FakeProvider;

        fn capabilities(&self) -> external_secrets_provider::Capabilities {
            external_secrets_provider::Capabilities::ReadOnly
        }
        fn validate_spec(&self, fake: &Self::Spec, _: StoreKind) -> Result<(), ProviderError> {
            if fake.data.is_empty() { Err(ProviderError::InvalidConfig("no data".into())) } else { Ok(()) }
        }
        async fn client(
            &self,
            _: &Self::Spec,
            _: &external_secrets_provider::StoreContext,
        ) -> Result<Arc<dyn external_secrets_provider::StoreClient>, ProviderError> {
            Err(ProviderError::Unsupported("not in tests".into()))
        }
    }

    #[test]
    fn rejects_rewrite_and_find_regexps_that_do_not_compile() {
        let verdict = es(json!({
            "secretStoreRef": {"name": "s"},
            "dataFrom": [
                {"find": {"name": {"regexp": "db-("}}},
                {"extract": {"key": "k"}, "rewrite": [{"regexp": {"source": "[a-", "target": "x"}}]},
            ]
        }));
        let verdict = external_secret(&verdict);
        assert_eq!(verdict.errors.len(), 2, "{verdict:?}");
        assert!(verdict.errors[0].starts_with("dataFrom[0].find.name.regexp \"db-(\" does not compile"));
        assert!(verdict.errors[1].starts_with("dataFrom[1].rewrite[0].regexp.source \"[a-\" does not compile"));
        assert!(!verdict.message().contains('\n'), "one line: {}", verdict.message());
    }

    #[test]
    fn rejects_refresh_intervals_go_cannot_parse() {
        let verdict = external_secret(&es(json!({"refreshInterval": "1 hour", "data": []})));
        assert_eq!(verdict.errors.len(), 1);
        assert!(verdict.errors[0].contains("refreshInterval \"1 hour\""));
        assert!(external_secret(&es(json!({"refreshInterval": "0"}))).allowed());
        assert!(external_secret(&es(json!({"refreshInterval": "1h30m"}))).allowed());
    }

    #[test]
    fn duplicate_secret_keys_are_rejected_only_under_retain() {
        let data = json!([
            {"secretKey": "a", "remoteRef": {"key": "x"}},
            {"secretKey": "a", "remoteRef": {"key": "y"}},
        ]);
        let retain = external_secret(&es(json!({"data": data})));
        assert_eq!(retain.errors, ["duplicate secretKey in data: a"]);
        let delete = external_secret(&es(json!({"data": data, "target": {"deletionPolicy": "Delete"}})));
        assert!(delete.allowed());
    }

    #[test]
    fn service_account_tokens_bound_to_an_account_and_unknown_template_targets_are_rejected() {
        let bound = external_secret(&es(json!({"target": {"template": {
            "type": "kubernetes.io/service-account-token",
            "metadata": {"annotations": {"kubernetes.io/service-account.name": "admin"}},
        }}})));
        assert_eq!(bound.errors.len(), 1);
        let unbound =
            external_secret(&es(json!({"target": {"template": {"type": "kubernetes.io/service-account-token"}}})));
        assert!(unbound.allowed());
        let target = external_secret(&es(json!({"target": {"template": {"templateFrom": [
            {"literal": "x", "target": "labels"},
            {"literal": "x", "target": "spec.data"},
        ]}}})));
        assert_eq!(target.errors.len(), 1, "{target:?}");
        assert!(target.errors[0].contains("templateFrom[1]"));
        let manifest = external_secret(&es(json!({"target": {
            "manifest": {"apiVersion": "v1", "kind": "ConfigMap"},
            "template": {"templateFrom": [{"literal": "x", "target": "spec.data"}]},
        }})));
        assert!(manifest.allowed(), "generic targets take paths");
    }

    #[test]
    fn unanchored_namespace_regexps_are_admitted_with_a_warning() {
        let registry = registry();
        let spec = |regexps: serde_json::Value| {
            store_spec(json!({
                "provider": {"fake": {"data": [{"key": "k", "value": "v"}]}},
                "conditions": [{"namespaceRegexes": regexps}],
            }))
        };
        let verdict = store(
            &spec(json!(["team-a", "^team-b", "team-c$", "^team-d\\$"])),
            StoreKind::ClusterSecretStore,
            &registry,
        );
        assert!(verdict.allowed(), "ESO's semantics are kept: {verdict:?}");
        assert_eq!(verdict.warnings.len(), 4, "{verdict:?}");
        assert!(verdict.warnings[0].starts_with("conditions[0].namespaceRegexes[0] \"team-a\" is not anchored"));
        assert!(verdict.warnings[0].contains("evil-team-a"));

        let anchored = store(
            &spec(json!(["^team-a$", "^(team-a|team-b)$", "\\Ateam-c\\z"])),
            StoreKind::ClusterSecretStore,
            &registry,
        );
        assert_eq!(anchored, Verdict::default());
    }

    #[test]
    fn store_regexps_intervals_and_provider_checks() {
        let registry = registry();
        let bad = store_spec(json!({
            "provider": {"fake": {"data": []}},
            "refreshInterval": "-1s",
            "conditions": [{"namespaceRegexes": ["team-(a|b", "ok-.*"]}],
        }));
        let verdict = store(&bad, StoreKind::ClusterSecretStore, &registry);
        assert_eq!(verdict.errors.len(), 3, "{verdict:?}");
        assert!(verdict.errors[0].starts_with("conditions[0].namespaceRegexes[0]"));
        assert!(verdict.errors[1].contains("must not be negative"));
        assert_eq!(verdict.errors[2], "spec.provider.fake: invalid store configuration: no data");

        let good = store_spec(json!({
            "provider": {"fake": {"data": [{"key": "k", "value": "v"}]}},
            "refreshInterval": 60,
        }));
        assert_eq!(store(&good, StoreKind::SecretStore, &registry), Verdict::default());

        let gitlab = store_spec(json!({"provider": {"gitlab": {"url": "https://gitlab"}}}));
        let verdict = store(&gitlab, StoreKind::SecretStore, &registry);
        assert!(verdict.allowed());
        assert_eq!(verdict.warnings.len(), 1, "unsupported providers are admitted with a warning");
    }
}
