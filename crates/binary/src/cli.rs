//! The command line: ESO 2.9's commands and every flag they define, with Go's syntax (`--flag=value`,
//! `--flag value`, booleans as `--flag` or `--flag=false`), so that the argument lists ESO's chart renders run
//! this binary unchanged. As in ESO the root command is the controller; `controller` names it explicitly.
//!
//! A flag either means something here (it is honoured) or is accepted only: such flags are listed in
//! [`CONTROLLER_NO_EFFECT`], [`WEBHOOK_NO_EFFECT`] and [`CERTCONTROLLER_NO_EFFECT`] with the reason, logged once
//! at startup when given, and documented in `docs/compatibility.md`.

use std::time::Duration;

use clap::{ArgMatches, Args, Parser, Subcommand};

use crate::goflags::{TimeEncoding, go_bool, go_duration, zap_level, zap_time_encoding};

#[derive(Parser, Debug)]
#[command(
    name = "external-secrets",
    version,
    about = "Syncs secrets from external stores into Kubernetes Secrets (without a subcommand: the controller)",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The controller's flags, when no subcommand is given (ESO's root command).
    #[command(flatten)]
    pub controller: Box<ControllerArgs>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the ExternalSecret, SecretStore and ClusterSecretStore controllers (the same as no subcommand).
    Controller(Box<ControllerArgs>),
    /// Serve the validating admission webhook over HTTPS (certificate from --cert-dir, reloaded on change).
    Webhook(Box<WebhookArgs>),
    /// Keep the webhook's CA and serving certificate in a Secret and inject the CA bundle.
    Certcontroller(Box<CertControllerArgs>),
    /// Print the CustomResourceDefinitions (YAML) to apply before running the controller.
    Crds,
}

/// Logging flags every command shares.
#[derive(Args, Debug, Clone)]
pub struct LogArgs {
    /// Log level: debug, info, warn, error (dpanic, panic and fatal log errors only).
    #[arg(long, default_value = "info", value_parser = zap_level)]
    pub loglevel: String,
    /// Timestamp format of log lines: epoch, millis, nano, iso8601, rfc3339 or rfc3339nano.
    #[arg(long, default_value = "epoch", value_parser = zap_time_encoding)]
    pub zap_time_encoding: TimeEncoding,
    /// Log format: json or text (not an ESO flag; ESO logs JSON).
    #[arg(long, default_value = "json")]
    pub log_format: String,
}

/// ESO's metrics-serving flags (TLS and authentication of the metrics endpoint), shared by every command.
#[derive(Args, Debug, Clone)]
pub struct MetricsServingArgs {
    /// Authenticate and authorize metrics scrapes (TokenReview/SubjectAccessReview). Not supported: refused.
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub metrics_auth: bool,
    /// Serve metrics over HTTPS. Not supported: refused.
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub metrics_secure: bool,
    /// Directory of the metrics TLS certificate (only with --metrics-secure).
    #[arg(long, default_value = "")]
    pub metrics_cert_dir: String,
    /// File name of the metrics TLS certificate.
    #[arg(long, default_value = "tls.crt")]
    pub metrics_cert_name: String,
    /// File name of the metrics TLS key.
    #[arg(long, default_value = "tls.key")]
    pub metrics_key_name: String,
    /// Allow HTTP/2 on the TLS endpoints (ESO: off). Endpoints here speak HTTP/1.1.
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub enable_http2: bool,
}

impl MetricsServingArgs {
    /// ESO serves metrics over TLS with Kubernetes authentication when asked; this operator cannot, and serving
    /// them in plain text instead would silently weaken what the user asked for.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.metrics_secure && !self.metrics_auth,
            "--metrics-secure and --metrics-auth are not supported by this operator: metrics are served over plain \
             HTTP without authentication (protect the port with a NetworkPolicy)"
        );
        Ok(())
    }
}

#[derive(Args, Debug, Clone)]
pub struct ControllerArgs {
    /// Reconciles in flight per controller (ESO's default is 1; a reconcile here mostly waits on IO).
    #[arg(long, default_value_t = 8)]
    pub concurrent: u16,
    /// Watch only this namespace (all namespaces when empty).
    #[arg(long, default_value = "")]
    pub namespace: String,
    /// Use only stores whose spec.controller is empty or equal to this.
    #[arg(long, default_value = "default")]
    pub controller_class: String,
    /// Address of the metrics endpoint (`/metrics`, also `/healthz` and `/readyz`); empty disables it.
    #[arg(long, default_value = ":8080")]
    pub metrics_addr: String,
    /// Address of the liveness/readiness endpoints (`/healthz`, `/readyz`); may equal --metrics-addr.
    #[arg(long, default_value = ":8082")]
    pub live_addr: String,
    /// How often stores are re-validated when their spec.refreshInterval is unset.
    #[arg(long, default_value = "5m", value_parser = go_duration)]
    pub store_requeue_interval: Duration,
    /// Reconcile ClusterSecretStores and let ExternalSecrets use them.
    #[arg(long, default_value = "true", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub enable_cluster_store_reconciler: bool,
    /// Reconcile SecretStores (validate them and write their status).
    #[arg(long, default_value = "true", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub enable_secret_store_reconciler: bool,
    /// Reconcile ClusterExternalSecrets (cluster-wide installs only: not with --namespace).
    #[arg(long, default_value = "true", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub enable_cluster_external_secret_reconciler: bool,
    /// Reconcile ClusterPushSecrets (cluster-wide installs only: not with --namespace).
    #[arg(long, default_value = "true", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub enable_cluster_push_secret_reconciler: bool,
    /// Reconcile PushSecrets (push Secrets' keys to stores).
    #[arg(long, default_value = "true", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub enable_push_secret_reconciler: bool,
    /// ESO: cache every Secret of the cluster. Accepted only (managed Secrets' metadata is always watched).
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub enable_secrets_caching: bool,
    /// ESO: cache every ConfigMap of the cluster. Accepted only.
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub enable_configmaps_caching: bool,
    /// ESO: cache managed Secrets. Accepted only (managed Secrets' metadata is always watched).
    #[arg(long, default_value = "true", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub enable_managed_secrets_caching: bool,
    /// ESO: read from the API when caches disagree. Accepted only (always so here).
    #[arg(long, default_value = "true", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub enable_secret_api_read_on_cache_mismatch: bool,
    /// Refuse to use stores that are not Ready.
    #[arg(long, default_value = "true", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub enable_flood_gate: bool,
    /// Store what stateful generators (Grafana) return as GeneratorStates, so superseded ones are cleaned up.
    #[arg(long, default_value = "true", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub enable_generator_state: bool,
    /// Add the objects' `app.kubernetes.io/*` labels to the per-object metric series.
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub enable_extended_metric_labels: bool,
    /// Allow ConfigMaps and custom resources as targets (`spec.target.manifest`); without it they are refused.
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub unsafe_allow_generic_targets: bool,
    /// Not in ESO: refuse the operator's own AWS identity (the SDK default chain: environment, web identity token
    /// file, IMDS instance role) to namespaced SecretStores without `auth`; they get `Ready=False` naming this flag.
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub aws_refuse_default_credentials_for_namespaced_stores: bool,
    /// Left delimiter of templates (`spec.target.template`).
    #[arg(long, default_value = "{{")]
    pub template_left_delimiter: String,
    /// Right delimiter of templates.
    #[arg(long, default_value = "}}")]
    pub template_right_delimiter: String,
    /// How long a superseded GeneratorState is kept before it (and what it names at the provider) is removed.
    #[arg(long, default_value = "2m", value_parser = go_duration)]
    pub generator_gc_grace_period: Duration,
    /// Requests per second to the Kubernetes API (client-side token bucket); 0 disables the limit. Unset (the
    /// default): no client-side limit — the apiserver's API Priority and Fairness paces us and its 429s are
    /// retried after Retry-After; requests in flight are bounded by --concurrent. ESO's default is 50.
    #[arg(long)]
    pub client_qps: Option<f32>,
    /// Requests allowed at once above --client-qps before requests are delayed (only with --client-qps).
    #[arg(long, default_value_t = external_secrets_controller::ratelimit::DEFAULT_BURST)]
    pub client_burst: u32,
    /// Run the controllers only on the replica holding the Lease (`--enable-leader-election` or `=true`).
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub enable_leader_election: bool,
    /// Name of the leader election Lease.
    #[arg(long, default_value = external_secrets_controller::leader::DEFAULT_LEASE_NAME)]
    pub leader_election_id: String,
    /// Namespace of the leader election Lease; empty: the pod's namespace (POD_NAMESPACE or the service
    /// account's), else `default`.
    #[arg(long, default_value = "")]
    pub leader_election_namespace: String,
    /// How long a Lease is valid without renewal; a standby takes over after that.
    #[arg(long, default_value = "15s", value_parser = go_duration)]
    pub leader_election_lease_duration: Duration,
    /// How long the leader retries renewing before it gives up (and exits).
    #[arg(long, default_value = "10s", value_parser = go_duration)]
    pub leader_election_renew_deadline: Duration,
    /// How often candidates try to acquire and the leader renews the Lease.
    #[arg(long, default_value = "2s", value_parser = go_duration)]
    pub leader_election_retry_period: Duration,
    /// ESO's Vault provider: reuse Vault tokens. Accepted only (no Vault provider here).
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub enable_vault_token_cache: bool,
    /// ESO's Vault provider: token cache size. Accepted only.
    #[arg(long, default_value_t = 262_144)]
    pub vault_token_cache_size: i64,
    /// ESO's deprecated alias of --enable-vault-token-cache. Accepted only.
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub experimental_enable_vault_token_cache: bool,
    /// ESO's deprecated alias of --vault-token-cache-size. Accepted only.
    #[arg(long, default_value_t = 262_144)]
    pub experimental_vault_token_cache_size: i64,
    /// ESO's Doppler provider: OIDC client cache. Accepted only (no Doppler provider here).
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub experimental_enable_doppler_oidc_cache: bool,
    /// ESO's Doppler provider: OIDC client cache size. Accepted only.
    #[arg(long, default_value_t = 262_144)]
    pub experimental_doppler_oidc_cache_size: i64,
    /// ESO's Doppler provider: ETag cache size. Accepted only.
    #[arg(long, default_value_t = 16_384)]
    pub doppler_etag_cache_size: i64,
    /// ESO's Pulumi provider: OIDC cache size. Accepted only (no Pulumi provider here).
    #[arg(long, default_value_t = 262_144)]
    pub pulumi_oidc_cache_size: i64,
    /// ESO's Nebius MysteryBox provider: token cache size. Accepted only (no such provider here).
    #[arg(long, default_value_t = 4096)]
    pub mysterybox_tokens_cache_size: i64,
    /// ESO's Nebius MysteryBox provider: connection cache size. Accepted only.
    #[arg(long, default_value_t = 128)]
    pub mysterybox_connections_cache_size: i64,
    #[command(flatten)]
    pub metrics_serving: MetricsServingArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Args, Debug, Clone)]
pub struct WebhookArgs {
    /// HTTPS port of the admission endpoints. Not ESO's 10250, which is the kubelet's port on EKS Fargate and
    /// often blocked between control plane and nodes.
    #[arg(long, default_value_t = 9443)]
    pub port: u16,
    /// Directory with tls.crt and tls.key (the mounted webhook Secret).
    #[arg(long, default_value = "/tmp/certs")]
    pub cert_dir: std::path::PathBuf,
    /// ESO: the DNS name the certificate is checked against. Accepted only (the certificate is served as is).
    #[arg(long, default_value = "localhost")]
    pub dns_name: String,
    /// Address of /healthz and /readyz (plain HTTP); empty disables them.
    #[arg(long, default_value = ":8081")]
    pub healthz_addr: String,
    /// ESO: address of the webhook's metrics. Accepted only (the webhook serves no metrics here).
    #[arg(long, default_value = ":8080")]
    pub metrics_addr: String,
    /// How often the certificate files are checked for a new certificate (reloaded without a restart).
    #[arg(long, default_value = "10s", value_parser = go_duration)]
    pub check_interval: Duration,
    /// ESO: exit when the certificate expires within this window. Accepted only (certificates are reloaded).
    #[arg(long, default_value = "2160h", value_parser = go_duration)]
    pub lookahead_interval: Duration,
    /// TLS 1.2 cipher suites allowed (Go's names, comma separated; TLS 1.3 suites are always allowed); empty:
    /// rustls' defaults. Suites rustls does not implement (CBC, RSA key exchange) are left out with a warning.
    #[arg(long, default_value = "")]
    pub tls_ciphers: String,
    /// Minimum TLS version: 1.2 (also for 1.0 and 1.1: nothing older is implemented) or 1.3.
    #[arg(long, default_value = "1.2")]
    pub tls_min_version: String,
    /// How long to wait at start-up for the certificate files to appear.
    #[arg(long, default_value = "2m", value_parser = go_duration)]
    pub cert_wait: Duration,
    #[command(flatten)]
    pub metrics_serving: MetricsServingArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Args, Debug, Clone)]
pub struct CertControllerArgs {
    /// The webhook Service the certificate is for.
    #[arg(long, default_value = "external-secrets-webhook")]
    pub service_name: String,
    /// Namespace of the webhook Service.
    #[arg(long, default_value = "default")]
    pub service_namespace: String,
    /// The Secret holding ca.crt, tls.crt and tls.key.
    #[arg(long, default_value = "external-secrets-webhook")]
    pub secret_name: String,
    /// Namespace of that Secret.
    #[arg(long, default_value = "default")]
    pub secret_namespace: String,
    /// ESO: CRDs whose conversion webhook gets the CA bundle. Accepted only (no conversion webhook here).
    #[arg(
        long,
        value_delimiter = ',',
        default_values = [
            "externalsecrets.external-secrets.io",
            "clustersecretstores.external-secrets.io",
            "secretstores.external-secrets.io",
        ]
    )]
    pub crd_names: Vec<String>,
    /// ESO: cache only labelled CRDs and webhook configurations. Accepted only (only the labelled
    /// ValidatingWebhookConfigurations are read here anyway).
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub enable_partial_cache: bool,
    /// ESO: leader election of the cert controller. Accepted only (every replica converges on the same Secret).
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub enable_leader_election: bool,
    /// ESO: address of the cert controller's metrics. Accepted only (it serves no metrics here).
    #[arg(long, default_value = ":8080")]
    pub metrics_addr: String,
    /// Label selector of the ValidatingWebhookConfigurations to inject the CA bundle into.
    #[arg(long, default_value = external_secrets_webhook::certcontroller::WEBHOOK_COMPONENT_SELECTOR)]
    pub webhook_config_selector: String,
    /// How often the certificate and the CA bundle injection are checked.
    #[arg(long, default_value = "5m", value_parser = go_duration)]
    pub crd_requeue_interval: Duration,
    /// How long new certificates are valid.
    #[arg(long, default_value = "8760h", value_parser = go_duration)]
    pub cert_validity: Duration,
    /// A certificate expiring within this window is replaced.
    #[arg(long, default_value = "2160h", value_parser = go_duration)]
    pub cert_lookahead: Duration,
    /// Address of /healthz and /readyz (ready once the certificate is provisioned and injected).
    #[arg(long, default_value = ":8081")]
    pub healthz_addr: String,
    #[command(flatten)]
    pub metrics_serving: MetricsServingArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

/// ESO controller flags accepted for compatibility that change nothing here, with the reason.
pub const CONTROLLER_NO_EFFECT: &[(&str, &str)] = &[
    ("enable-secrets-caching", "Secrets are never cached whole; managed Secrets' metadata is always watched"),
    ("enable-configmaps-caching", "ConfigMaps are read from the API when a template needs them"),
    ("enable-managed-secrets-caching", "managed Secrets' metadata is always watched; data is read when it changed"),
    ("enable-secret-api-read-on-cache-mismatch", "a target Secret someone else wrote is always read from the API"),
    ("enable-http2", "the metrics endpoint is plain HTTP"),
    ("metrics-cert-dir", "metrics are served over plain HTTP"),
    ("metrics-cert-name", "metrics are served over plain HTTP"),
    ("metrics-key-name", "metrics are served over plain HTTP"),
    ("enable-vault-token-cache", "no Vault provider"),
    ("vault-token-cache-size", "no Vault provider"),
    ("experimental-enable-vault-token-cache", "no Vault provider"),
    ("experimental-vault-token-cache-size", "no Vault provider"),
    ("experimental-enable-doppler-oidc-cache", "no Doppler provider"),
    ("experimental-doppler-oidc-cache-size", "no Doppler provider"),
    ("doppler-etag-cache-size", "no Doppler provider"),
    ("pulumi-oidc-cache-size", "no Pulumi provider"),
    ("mysterybox-tokens-cache-size", "no Nebius MysteryBox provider"),
    ("mysterybox-connections-cache-size", "no Nebius MysteryBox provider"),
];

/// ESO webhook flags accepted for compatibility that change nothing here, with the reason.
pub const WEBHOOK_NO_EFFECT: &[(&str, &str)] = &[
    ("dns-name", "the certificate in --cert-dir is served as is; readiness checks only its expiry"),
    ("lookahead-interval", "a renewed certificate is reloaded without a restart, so the webhook never exits for it"),
    ("enable-http2", "the webhook speaks HTTP/1.1 only, as ESO does by default"),
    ("metrics-addr", "the webhook serves no metrics"),
    ("metrics-cert-dir", "the webhook serves no metrics"),
    ("metrics-cert-name", "the webhook serves no metrics"),
    ("metrics-key-name", "the webhook serves no metrics"),
];

/// ESO cert controller flags accepted for compatibility that change nothing here, with the reason.
pub const CERTCONTROLLER_NO_EFFECT: &[(&str, &str)] = &[
    ("crd-names", "there is no conversion webhook, so no CA bundle is injected into CRDs"),
    ("enable-partial-cache", "only the labelled ValidatingWebhookConfigurations are read anyway"),
    ("enable-leader-election", "replicas converge on the same Secret; no election is needed"),
    ("enable-http2", "the cert controller serves plain HTTP health endpoints only"),
    ("metrics-addr", "the cert controller serves no metrics"),
    ("metrics-cert-dir", "the cert controller serves no metrics"),
    ("metrics-cert-name", "the cert controller serves no metrics"),
    ("metrics-key-name", "the cert controller serves no metrics"),
];

/// The accept-only flags of `table` that were given on the command line, with their reason. Only flag names
/// come out of here, never values (a value could be a secret).
pub fn given_without_effect(
    matches: &ArgMatches,
    table: &[(&'static str, &'static str)],
) -> Vec<(String, &'static str)> {
    table
        .iter()
        .filter(|(flag, _)| {
            let id = flag.replace('-', "_");
            matches!(matches.try_contains_id(&id), Ok(true))
                && matches.value_source(&id) == Some(clap::parser::ValueSource::CommandLine)
        })
        .map(|(flag, reason)| (format!("--{flag}"), *reason))
        .collect()
}
