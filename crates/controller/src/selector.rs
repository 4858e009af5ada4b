//! Label selector matching (`matchLabels` and `matchExpressions`), for ClusterSecretStore conditions: Kubernetes'
//! rules, from `core::label_selector`; an invalid selector matches nothing.

pub use external_secrets_core::label_selector::matches;
