//! `external-secrets`: the operator binary. Subcommands are the roles (`controller`, `webhook`,
//! `certcontroller`; `crds` prints the CRDs).
//! Flag names and defaults follow ESO's where they mean the same thing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use external_secrets_controller::{ControllerConfig, LeaderElectionConfig};
use external_secrets_provider::ProviderRegistry;
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(name = "external-secrets", version, about = "Syncs secrets from external stores into Kubernetes Secrets")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the ExternalSecret, SecretStore and ClusterSecretStore controllers.
    Controller(Box<ControllerArgs>),
    /// Serve the validating admission webhook over HTTPS (certificate from --cert-dir, reloaded on change).
    Webhook(WebhookArgs),
    /// Keep the webhook's CA and serving certificate in a Secret and inject the CA bundle.
    Certcontroller(CertControllerArgs),
    /// Print the CustomResourceDefinitions (YAML) to apply before running the controller.
    Crds,
}

#[derive(Args, Debug)]
struct WebhookArgs {
    /// HTTPS port of the admission endpoints. Not ESO's 10250, which is the kubelet's port on EKS Fargate and
    /// often blocked between control plane and nodes.
    #[arg(long, default_value_t = 9443)]
    port: u16,
    /// Directory with tls.crt and tls.key (the mounted webhook Secret).
    #[arg(long, default_value = "/tmp/certs")]
    cert_dir: std::path::PathBuf,
    /// Address of /healthz and /readyz (plain HTTP); empty disables them.
    #[arg(long, default_value = ":8081")]
    healthz_addr: String,
    /// How often the certificate files are checked for a new certificate.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    check_interval: Duration,
    /// How long to wait at start-up for the certificate files to appear.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    cert_wait: Duration,
    /// Log level: debug, info, warn or error.
    #[arg(long, default_value = "info")]
    loglevel: String,
    /// Log format: json or text.
    #[arg(long, default_value = "json")]
    log_format: String,
}

#[derive(Args, Debug)]
struct CertControllerArgs {
    /// The webhook Service the certificate is for.
    #[arg(long, default_value = "external-secrets-webhook")]
    service_name: String,
    /// Namespace of the webhook Service.
    #[arg(long, default_value = "default")]
    service_namespace: String,
    /// The Secret holding ca.crt, tls.crt and tls.key.
    #[arg(long, default_value = "external-secrets-webhook")]
    secret_name: String,
    /// Namespace of that Secret.
    #[arg(long, default_value = "default")]
    secret_namespace: String,
    /// Label selector of the ValidatingWebhookConfigurations to inject the CA bundle into.
    #[arg(long, default_value = external_secrets_webhook::certcontroller::WEBHOOK_COMPONENT_SELECTOR)]
    webhook_config_selector: String,
    /// How often the certificate and the CA bundle injection are checked.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    crd_requeue_interval: Duration,
    /// How long new certificates are valid.
    #[arg(long, default_value = "8760h", value_parser = humantime::parse_duration)]
    cert_validity: Duration,
    /// A certificate expiring within this window is replaced.
    #[arg(long, default_value = "2160h", value_parser = humantime::parse_duration)]
    cert_lookahead: Duration,
    /// Address of /healthz and /readyz (ready once the certificate is provisioned and injected).
    #[arg(long, default_value = ":8081")]
    healthz_addr: String,
    /// Log level: debug, info, warn or error.
    #[arg(long, default_value = "info")]
    loglevel: String,
    /// Log format: json or text.
    #[arg(long, default_value = "json")]
    log_format: String,
}

#[derive(Args, Debug)]
struct ControllerArgs {
    /// Reconciles in flight per controller.
    #[arg(long, default_value_t = 8)]
    concurrent: u16,
    /// Watch only this namespace (all namespaces when empty).
    #[arg(long, default_value = "")]
    namespace: String,
    /// Use only stores whose spec.controller is empty or equal to this.
    #[arg(long, default_value = "default")]
    controller_class: String,
    /// Address of the metrics endpoint (`/metrics`); empty disables it.
    #[arg(long, default_value = ":8080")]
    metrics_addr: String,
    /// Address of the liveness/readiness endpoints (`/healthz`, `/readyz`); may equal --metrics-addr.
    #[arg(long, default_value = ":8082")]
    live_addr: String,
    /// How often stores are re-validated when their spec.refreshInterval is unset.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    store_requeue_interval: Duration,
    /// Reconcile ClusterSecretStores and let ExternalSecrets use them.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    enable_cluster_store_reconciler: bool,
    /// Refuse to use stores that are not Ready.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    enable_flood_gate: bool,
    /// Log level: debug, info, warn or error.
    #[arg(long, default_value = "info")]
    loglevel: String,
    /// Log format: json or text.
    #[arg(long, default_value = "json")]
    log_format: String,
    /// Requests per second to the Kubernetes API (client-side token bucket); 0 disables the limit.
    #[arg(long, default_value_t = external_secrets_controller::ratelimit::DEFAULT_QPS)]
    client_qps: f32,
    /// Requests allowed at once above --client-qps before requests are delayed.
    #[arg(long, default_value_t = external_secrets_controller::ratelimit::DEFAULT_BURST)]
    client_burst: u32,
    /// Run the controllers only on the replica holding the Lease (`--enable-leader-election` or `=true`).
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    enable_leader_election: bool,
    /// Name of the leader election Lease.
    #[arg(long, default_value = external_secrets_controller::leader::DEFAULT_LEASE_NAME)]
    leader_election_id: String,
    /// Namespace of the leader election Lease; empty: the pod's namespace (POD_NAMESPACE or the service
    /// account's), else `default`.
    #[arg(long, default_value = "")]
    leader_election_namespace: String,
    /// How long a Lease is valid without renewal; a standby takes over after that.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    leader_election_lease_duration: Duration,
    /// How long the leader retries renewing before it gives up (and exits).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    leader_election_renew_deadline: Duration,
    /// How often candidates try to acquire and the leader renews the Lease.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    leader_election_retry_period: Duration,
}

impl ControllerArgs {
    /// The election settings, when leader election is on.
    fn leader_election(&self) -> anyhow::Result<Option<LeaderElectionConfig>> {
        if !self.enable_leader_election {
            return Ok(None);
        }
        let namespace = if self.leader_election_namespace.is_empty() {
            external_secrets_controller::leader::default_namespace()
        } else {
            self.leader_election_namespace.clone()
        };
        let election = LeaderElectionConfig {
            lease_duration: self.leader_election_lease_duration,
            renew_deadline: self.leader_election_renew_deadline,
            retry_period: self.leader_election_retry_period,
            ..LeaderElectionConfig::new(namespace, self.leader_election_id.clone())
        };
        election.validate()?;
        Ok(Some(election))
    }
}

/// ESO writes addresses as `:8080`; Rust wants a host.
fn parse_addr(addr: &str) -> anyhow::Result<Option<SocketAddr>> {
    if addr.is_empty() || addr == "0" {
        return Ok(None);
    }
    let full = if addr.starts_with(':') { format!("0.0.0.0{addr}") } else { addr.to_string() };
    Ok(Some(full.parse().with_context(|| format!("invalid address {addr:?}"))?))
}

/// The providers compiled into this binary: one line each, behind its cargo feature.
fn registry() -> ProviderRegistry {
    let registry = ProviderRegistry::new();
    #[cfg(feature = "provider-fake")]
    let registry = registry.with(Arc::new(external_secrets_provider_fake::FakeProvider::new()));
    #[cfg(feature = "provider-kubernetes")]
    let registry = registry.with(Arc::new(external_secrets_provider_kubernetes::KubernetesProvider::new()));
    #[cfg(feature = "provider-aws")]
    let registry = registry.with(Arc::new(external_secrets_provider_aws::AwsProvider::new()));
    registry
}

fn init_logging(level: &str, format: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(format!("{level},kube_runtime=warn,kube_client=warn,hyper=warn,aws=warn")))
        .context("invalid --loglevel")?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        "json" => builder.json().init(),
        _ => builder.init(),
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn run_controller(args: ControllerArgs) -> anyhow::Result<()> {
    init_logging(&args.loglevel, &args.log_format)?;
    let kube_config = kube::Config::infer().await.context("no Kubernetes configuration (in-cluster or KUBECONFIG)")?;
    let client = external_secrets_controller::ratelimit::client(kube_config, args.client_qps, args.client_burst)
        .context("could not build the Kubernetes client")?;
    let config = ControllerConfig {
        namespace: (!args.namespace.is_empty()).then(|| args.namespace.clone()),
        controller_class: args.controller_class.clone(),
        concurrent: args.concurrent.max(1),
        store_requeue_interval: args.store_requeue_interval,
        enable_cluster_store_reconciler: args.enable_cluster_store_reconciler,
        enable_flood_gate: args.enable_flood_gate,
        leader_election: args.leader_election()?,
        ..ControllerConfig::default()
    };
    let metrics_addr = parse_addr(&args.metrics_addr)?;
    let live_addr = parse_addr(&args.live_addr)?;
    let registry = registry();
    tracing::info!(
        providers = ?registry.names(),
        namespace = ?config.namespace,
        leader_election = ?config.leader_election.as_ref().map(|l| format!("{}/{}", l.namespace, l.lease_name)),
        "starting controller"
    );
    let extra_live = live_addr.filter(|l| Some(*l) != metrics_addr);
    external_secrets_controller::run(client, registry, config, metrics_addr.or(live_addr), shutdown_signal(), |h| {
        if let Some(addr) = extra_live {
            let (readiness, metrics) = (h.readiness.clone(), h.metrics.clone());
            tokio::spawn(async move {
                if let Err(e) = external_secrets_controller::health::serve(addr, readiness, metrics).await {
                    tracing::warn!(error = %e, %addr, "health server failed");
                }
            });
        }
    })
    .await
    .context("controller failed")?;
    Ok(())
}

async fn run_webhook(args: WebhookArgs) -> anyhow::Result<()> {
    init_logging(&args.loglevel, &args.log_format)?;
    let config = external_secrets_webhook::WebhookConfig {
        addr: SocketAddr::from(([0, 0, 0, 0], args.port)),
        cert_dir: args.cert_dir,
        healthz_addr: parse_addr(&args.healthz_addr)?,
        reload_interval: args.check_interval,
        cert_wait: args.cert_wait,
    };
    external_secrets_webhook::run(config, registry(), shutdown_signal()).await.context("webhook failed")
}

async fn run_cert_controller(args: CertControllerArgs) -> anyhow::Result<()> {
    use external_secrets_webhook::certcontroller::{self, CertControllerConfig};
    init_logging(&args.loglevel, &args.log_format)?;
    anyhow::ensure!(args.cert_validity > args.cert_lookahead, "--cert-validity must be longer than --cert-lookahead");
    let client = kube::Client::try_default().await.context("no Kubernetes configuration (in-cluster or KUBECONFIG)")?;
    let config = CertControllerConfig {
        secret_namespace: args.secret_namespace,
        secret_name: args.secret_name,
        hosts: CertControllerConfig::service_hosts(&args.service_name, &args.service_namespace),
        validity: args.cert_validity,
        lookahead: args.cert_lookahead,
        webhook_selector: args.webhook_config_selector,
    };
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some(addr) = parse_addr(&args.healthz_addr)? {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
        let app = certcontroller::health_router(ready.clone());
        tokio::spawn(async move {
            if let Err(e) = external_secrets_webhook::server::serve_http(listener, app).await {
                tracing::warn!(error = %e, "health server failed");
            }
        });
    }
    tracing::info!(secret = %config.secret_name, namespace = %config.secret_namespace, "starting certificate controller");
    certcontroller::run(client, config, args.crd_requeue_interval, ready, shutdown_signal()).await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => {
            print!("{}", external_secrets_api::crds_yaml());
            Ok(())
        }
        Command::Controller(args) => run_controller(*args).await,
        Command::Webhook(args) => run_webhook(args).await,
        Command::Certcontroller(args) => run_cert_controller(args).await,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn controller_args(args: &[&str]) -> ControllerArgs {
        let cli = Cli::try_parse_from([&["external-secrets", "controller"], args].concat()).unwrap();
        match cli.command {
            Command::Controller(args) => *args,
            _ => unreachable!("parsed the controller subcommand"),
        }
    }

    #[test]
    fn webhook_and_certcontroller_defaults() {
        let cli = Cli::try_parse_from(["external-secrets", "webhook"]).unwrap();
        let Command::Webhook(webhook) = cli.command else { unreachable!("webhook") };
        assert_eq!(webhook.port, 9443, "not 10250, the kubelet port on Fargate");
        assert_eq!(webhook.cert_dir, std::path::PathBuf::from("/tmp/certs"));
        assert_eq!(parse_addr(&webhook.healthz_addr).unwrap(), Some(SocketAddr::from(([0, 0, 0, 0], 8081))));
        let cli = Cli::try_parse_from(["external-secrets", "certcontroller", "--secret-namespace=eso"]).unwrap();
        let Command::Certcontroller(certs) = cli.command else { unreachable!("certcontroller") };
        assert_eq!((certs.secret_name.as_str(), certs.secret_namespace.as_str()), ("external-secrets-webhook", "eso"));
        assert!(certs.cert_validity > certs.cert_lookahead);
    }

    #[test]
    fn defaults_are_esos() {
        let args = controller_args(&[]);
        assert_eq!((args.client_qps, args.client_burst), (50.0, 100));
        assert!(!args.enable_leader_election);
        assert!(args.leader_election().unwrap().is_none());
        assert_eq!(args.leader_election_id, "external-secrets-controller");
        assert_eq!(args.leader_election_lease_duration, Duration::from_secs(15));
        assert_eq!(args.leader_election_renew_deadline, Duration::from_secs(10));
        assert_eq!(args.leader_election_retry_period, Duration::from_secs(2));
    }

    #[test]
    fn leader_election_flags_accept_go_style_booleans_and_durations() {
        for on in [&["--enable-leader-election"][..], &["--enable-leader-election=true"][..]] {
            let mut args = controller_args(on);
            args.leader_election_namespace = "eso".into();
            let election = args.leader_election().unwrap().unwrap();
            assert_eq!(
                (election.namespace.as_str(), election.lease_name.as_str()),
                ("eso", "external-secrets-controller")
            );
        }
        let args = controller_args(&[
            "--enable-leader-election=true",
            "--leader-election-namespace=ops",
            "--leader-election-id=my-lease",
            "--leader-election-lease-duration=30s",
            "--leader-election-renew-deadline=20s",
            "--leader-election-retry-period=5s",
        ]);
        let election = args.leader_election().unwrap().unwrap();
        assert_eq!(election.lease_name, "my-lease");
        assert_eq!(election.lease_duration, Duration::from_secs(30));
        assert!(controller_args(&["--enable-leader-election=false"]).leader_election().unwrap().is_none());
        let inconsistent = controller_args(&["--enable-leader-election", "--leader-election-renew-deadline=20s"]);
        assert!(inconsistent.leader_election().is_err());
    }
}
