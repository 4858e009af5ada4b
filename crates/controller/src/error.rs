//! Reconcile errors: each knows its bounded category (condition message prefix, event reason, metric label)
//! and whether to retry with backoff or to wait for a change.

use external_secrets_core::pipeline::PipelineError;
use external_secrets_core::target::TargetError;
use external_secrets_provider::ProviderError;

/// Why an ExternalSecret or store could not be reconciled. Messages never contain secret values.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The store could not be used (missing, not ready, not allowed, wrong class, unsupported provider).
    #[error("{0}")]
    Store(String),
    /// The store client failed.
    #[error("could not get secret data from provider: {0}")]
    Provider(#[from] ProviderError),
    /// The data pipeline failed at an entry (property, decoding, keys, regexps, not found under Retain).
    #[error("could not get secret data from provider: {0}")]
    Data(#[from] PipelineError),
    /// The target Secret cannot be built from the spec.
    #[error("invalid target: {0}")]
    Target(#[from] TargetError),
    /// We refuse to write the target (owned by another ExternalSecret, not managed by us, immutable).
    #[error("{0}")]
    Ownership(String),
    /// The Kubernetes API failed.
    #[error("kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    /// The apiserver refused to write the target Secret; the message quotes nothing we rendered into it
    /// (`core::redact::refusal`). Handled as [`ReconcileError::Kube`].
    #[error("kubernetes API error: {0}")]
    Refused(String),
    /// `spec.refreshInterval` and similar could not be parsed.
    #[error("invalid spec: {0}")]
    Spec(String),
    /// The reconcile panicked (a bug); the panic's own message is not kept, as it may quote data.
    #[error("internal error: the reconcile panicked")]
    Panicked,
    /// `spec.target.manifest` is refused before anything is read: generic targets are disabled, or the manifest
    /// names no usable kind (ESO: "invalid generic target").
    #[error("{0}")]
    GenericTargetRefused(String),
    /// The apiserver does not serve the generic target's kind (its CRD may be installed later).
    #[error("{0}")]
    UnknownTargetKind(String),
    /// The operator's RBAC does not allow what the target needs; the message says what to grant.
    #[error("{0}")]
    Forbidden(String),
    /// A `dataFrom[].sourceRef.generatorRef` could not be resolved or run (an unsupported kind is named).
    #[error("could not generate secret data: {entry}: {message}")]
    Generator { entry: String, message: String, category: &'static str, retryable: bool },
}

impl ReconcileError {
    /// A short bounded label.
    pub fn category(&self) -> &'static str {
        match self {
            ReconcileError::Store(_) => "StoreNotUsable",
            ReconcileError::Provider(e) => e.category().as_str(),
            ReconcileError::Data(e) if e.is_not_found() => "NotFound",
            ReconcileError::Data(_) => "InvalidData",
            ReconcileError::Target(_) => "InvalidTarget",
            ReconcileError::Ownership(_) => "TargetNotOwned",
            ReconcileError::Kube(_) | ReconcileError::Refused(_) => "KubernetesAPI",
            ReconcileError::Spec(_) => "InvalidSpec",
            ReconcileError::Panicked => "Internal",
            ReconcileError::GenericTargetRefused(_) => "InvalidGenericTarget",
            ReconcileError::UnknownTargetKind(_) => "UnknownTargetKind",
            ReconcileError::Forbidden(_) => "Forbidden",
            ReconcileError::Generator { category, .. } => category,
        }
    }

    /// Whether to retry with backoff. Otherwise the object waits until it (or its store) changes.
    pub fn is_retryable(&self) -> bool {
        match self {
            ReconcileError::Provider(e) => e.is_retryable() || e.is_not_found(),
            // The remote value may change (a property appears, a secret is created): retry, with backoff.
            ReconcileError::Data(_) => true,
            ReconcileError::Kube(_) | ReconcileError::Refused(_) | ReconcileError::Panicked => true,
            // A CRD or an RBAC grant may come later; nothing watches for either, so retry, with backoff.
            ReconcileError::UnknownTargetKind(_) | ReconcileError::Forbidden(_) => true,
            // A ConfigMap or Secret a template reads may be created later; nothing watches them, so retry.
            ReconcileError::Target(TargetError::Source { .. }) => true,
            ReconcileError::Generator { retryable, .. } => *retryable,
            ReconcileError::Store(_)
            | ReconcileError::Target(_)
            | ReconcileError::Ownership(_)
            | ReconcileError::Spec(_)
            | ReconcileError::GenericTargetRefused(_) => false,
        }
    }
}
