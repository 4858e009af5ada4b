//! `dataFrom[].sourceRef.generatorRef`: find the generator the entry names and run it.
//!
//! A namespaced generator is read from the ExternalSecret's namespace; a `ClusterGenerator` (cluster scoped)
//! holds a kind and that kind's spec, and runs as if a generator of that kind with that spec were in the
//! ExternalSecret's namespace (ESO's "virtual" generator). A kind this operator does not run is refused before
//! anything is read, with a message naming the kind; the object then waits for a change of its spec (no retry
//! loop). Generators are read when an entry needs them (one GET per entry and sync), not watched: as in ESO, a
//! change of a generator alone does not resync its users.

use std::collections::{BTreeMap, HashMap};

use external_secrets_api::generators::v1alpha1::{
    ClusterGenerator, EcrAuthorizationToken, Fake, GeneratorKind, GeneratorSpec, Grafana, Password, SshKey,
    StsSessionToken, Uuid, VaultDynamicSecret, Webhook,
};
use external_secrets_api::{DEFAULT_GENERATOR_API_VERSION, ExternalSecret, GeneratorRef};
use external_secrets_core::pipeline::generator_refs;
use external_secrets_generators::{GeneratorError, kind_name};
use external_secrets_provider::{CredentialResolver, RemoteValue, StoreScope};
use kube::Api;
use serde::de::DeserializeOwned;
use tracing::warn;

use crate::context::Context;
use crate::error::ReconcileError;
use crate::generator_state::{StateTransaction, resource_manifest};

/// The kind ESO names cluster-scoped generators by.
const CLUSTER_GENERATOR: &str = "ClusterGenerator";

/// Why one generator entry produced nothing, before it is tied to its entry.
struct Failure {
    message: String,
    category: &'static str,
    retryable: bool,
}

impl Failure {
    fn config(category: &'static str, message: String) -> Self {
        Failure { message, category, retryable: false }
    }
    fn retry(category: &'static str, message: String) -> Self {
        Failure { message, category, retryable: true }
    }
}

impl From<GeneratorError> for Failure {
    fn from(e: GeneratorError) -> Self {
        match e {
            GeneratorError::Unsupported(_) => Failure::config("GeneratorNotSupported", e.to_string()),
            // The generator object may be corrected; nothing watches it, so retry with backoff.
            GeneratorError::InvalidSpec { .. } => Failure::retry("InvalidGenerator", e.to_string()),
            GeneratorError::Failed { .. } => Failure::retry("GeneratorFailed", e.to_string()),
            GeneratorError::Provider { ref source, .. } => Failure {
                category: source.category().as_str(),
                retryable: source.is_retryable(),
                message: e.to_string(),
            },
        }
    }
}

/// Runs the generator of every `dataFrom[]` entry that names one, by entry index. `None`: a generator belongs to
/// another controller class (its `spec.controller`, as ESO's `shouldSkipGenerator`), so this ExternalSecret is
/// not ours to sync.
pub(crate) async fn generate_all(
    ctx: &Context,
    es: &ExternalSecret,
    namespace: &str,
    states: &mut StateTransaction,
) -> Result<Option<HashMap<usize, BTreeMap<String, RemoteValue>>>, ReconcileError> {
    let mut out = HashMap::new();
    for (index, generator_ref) in generator_refs(&es.spec) {
        let at = |f: Failure| ReconcileError::Generator {
            entry: format!("spec.dataFrom[{index}].sourceRef.generatorRef"),
            message: f.message,
            category: f.category,
            retryable: f.retryable,
        };
        let (kind, spec) = resolve(ctx, namespace, generator_ref).await.map_err(at)?;
        if !class_matches(&spec, &ctx.config.controller_class) {
            return Ok(None);
        }
        // ESO reads a generator's references in the ExternalSecret's namespace, for a ClusterGenerator too:
        // scoped like a SecretStore there.
        let credentials = CredentialResolver::new(
            ctx.client.clone(),
            StoreScope::secret_store(namespace, format!("generator {}", generator_ref.name)),
        );
        let (data, state) =
            ctx.config.generators.generate_with_state(kind, &spec, &credentials).await.map_err(|e| at(e.into()))?;
        // What the generator made at the provider (Grafana: a token) is kept in a GeneratorState, stored when the
        // sync has read everything (or cleaned up when it fails).
        if let Some(state) = state {
            let name = (generator_ref.kind != CLUSTER_GENERATOR).then_some(generator_ref.name.as_str());
            states.record(index, kind, resource_manifest(kind, name, namespace, &spec), spec, state);
        }
        out.insert(index, data.into_iter().map(|(k, v)| (k, RemoteValue::bytes(v))).collect());
    }
    Ok(Some(out))
}

/// ESO: a generator whose `spec.controller` is set and is not this controller's class is another's. Of the kinds
/// that run here only `Fake` has the field.
fn class_matches(spec: &GeneratorSpec, class: &str) -> bool {
    let controller = spec.fake_spec.as_ref().and_then(|f| f.controller.as_deref()).unwrap_or_default();
    controller.is_empty() || controller == class
}

/// The kind and spec a reference stands for (a namespaced generator's, or what a ClusterGenerator holds).
async fn resolve(ctx: &Context, namespace: &str, r: &GeneratorRef) -> Result<(GeneratorKind, GeneratorSpec), Failure> {
    // ESO: the group must be the generators group, and the version one it serves (v1alpha1 only).
    if r.api_version != DEFAULT_GENERATOR_API_VERSION {
        return Err(Failure::config(
            "InvalidGeneratorRef",
            format!("generatorRef apiVersion {:?} is not served: use {DEFAULT_GENERATOR_API_VERSION:?}", r.api_version),
        ));
    }
    if r.kind == CLUSTER_GENERATOR {
        let generator: ClusterGenerator = get(Api::all(ctx.client.clone()), CLUSTER_GENERATOR, &r.name, None).await?;
        let kind = generator.spec.kind;
        if !ctx.config.generators.supports(kind) {
            return Err(Failure::config(
                "GeneratorNotSupported",
                format!("ClusterGenerator {:?}: {}", r.name, GeneratorError::Unsupported(kind_name(kind))),
            ));
        }
        return Ok((kind, generator.spec.generator));
    }
    let kind: GeneratorKind = serde_json::from_value(serde_json::Value::String(r.kind.clone()))
        .map_err(|_| Failure::config("InvalidGeneratorRef", format!("generatorRef has unknown kind {:?}", r.kind)))?;
    if !ctx.config.generators.supports(kind) {
        return Err(GeneratorError::Unsupported(kind_name(kind)).into());
    }
    let client = ctx.client.clone();
    let ns = Some(namespace);
    let spec = match kind {
        GeneratorKind::Password => GeneratorSpec {
            password_spec: Some(get::<Password>(Api::namespaced(client, namespace), &r.kind, &r.name, ns).await?.spec),
            ..Default::default()
        },
        GeneratorKind::Uuid => GeneratorSpec {
            uuid_spec: Some(get::<Uuid>(Api::namespaced(client, namespace), &r.kind, &r.name, ns).await?.spec),
            ..Default::default()
        },
        GeneratorKind::Fake => GeneratorSpec {
            fake_spec: Some(get::<Fake>(Api::namespaced(client, namespace), &r.kind, &r.name, ns).await?.spec),
            ..Default::default()
        },
        GeneratorKind::SshKey => GeneratorSpec {
            ssh_key_spec: Some(get::<SshKey>(Api::namespaced(client, namespace), &r.kind, &r.name, ns).await?.spec),
            ..Default::default()
        },
        GeneratorKind::EcrAuthorizationToken => GeneratorSpec {
            ecr_authorization_token_spec: Some(
                get::<EcrAuthorizationToken>(Api::namespaced(client, namespace), &r.kind, &r.name, ns).await?.spec,
            ),
            ..Default::default()
        },
        GeneratorKind::StsSessionToken => GeneratorSpec {
            sts_session_token_spec: Some(
                get::<StsSessionToken>(Api::namespaced(client, namespace), &r.kind, &r.name, ns).await?.spec,
            ),
            ..Default::default()
        },
        GeneratorKind::Grafana => GeneratorSpec {
            grafana_spec: Some(get::<Grafana>(Api::namespaced(client, namespace), &r.kind, &r.name, ns).await?.spec),
            ..Default::default()
        },
        GeneratorKind::Webhook => GeneratorSpec {
            webhook_spec: Some(get::<Webhook>(Api::namespaced(client, namespace), &r.kind, &r.name, ns).await?.spec),
            ..Default::default()
        },
        GeneratorKind::VaultDynamicSecret => GeneratorSpec {
            vault_dynamic_secret_spec: Some(
                get::<VaultDynamicSecret>(Api::namespaced(client, namespace), &r.kind, &r.name, ns).await?.spec,
            ),
            ..Default::default()
        },
        other => return Err(GeneratorError::Unsupported(kind_name(other)).into()),
    };
    Ok((kind, spec))
}

/// Reads one generator object. Missing or forbidden are retried with backoff (it may be created, or the operator
/// granted the permission, later: nothing watches generators).
async fn get<K>(api: Api<K>, kind: &str, name: &str, namespace: Option<&str>) -> Result<K, Failure>
where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let what = match namespace {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    };
    match api.get_opt(name).await {
        Ok(Some(object)) => Ok(object),
        Ok(None) => Err(Failure::retry("GeneratorNotFound", format!("{what} not found"))),
        Err(kube::Error::Api(e)) if e.code == 403 => Err(Failure::retry(
            "Forbidden",
            format!("the operator may not read {what}: grant get on it (RBAC) or use a supported generator"),
        )),
        // A decoding error may quote the object's fields (a Fake generator's data): say only what failed.
        Err(kube::Error::SerdeError(_)) => {
            Err(Failure::retry("InvalidGenerator", format!("could not decode {what}: it does not match its schema")))
        }
        Err(e) => Err(Failure::retry("KubernetesAPI", format!("could not read {what}: {e}"))),
    }
}

/// Runs the generator a PushSecret's `selector.generatorRef` names (ESO's `resolveSecretFromGenerator`): resolved
/// and given credentials in the PushSecret's namespace, as for an ExternalSecret. The error is the message for the
/// PushSecret's condition and whether to retry.
pub(crate) async fn generate_for_push(
    ctx: &Context,
    namespace: &str,
    generator_ref: &GeneratorRef,
) -> Result<BTreeMap<String, external_secrets_provider::SecretBytes>, (String, bool)> {
    let fail = |f: Failure| (f.message, f.retryable);
    let (kind, spec) = resolve(ctx, namespace, generator_ref).await.map_err(fail)?;
    let credentials = CredentialResolver::new(
        ctx.client.clone(),
        StoreScope::secret_store(namespace, format!("generator {}", generator_ref.name)),
    );
    let (generated, state) =
        ctx.config.generators.generate_with_state(kind, &spec, &credentials).await.map_err(|e| fail(e.into()))?;
    if let Some(state) = state {
        // A generator that made something on its provider's side (a Grafana token) would leave it there on every
        // push: PushSecrets keep no GeneratorState here. Undo it and refuse, rather than leak a credential.
        if let Err(e) = ctx.config.generators.cleanup(kind, &spec, &state, &credentials).await {
            warn!(error = %e, "could not clean up what a generator made for a PushSecret");
        }
        return Err((
            format!(
                "generator kind {:?} keeps state at its provider, which a PushSecret's selector.generatorRef does not \
                 support in this operator",
                kind_name(kind)
            ),
            false,
        ));
    }
    Ok(generated)
}
