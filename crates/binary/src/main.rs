//! `external-secrets`: the operator binary. Subcommands are the roles (`controller`; `crds` prints the CRDs).
//! Flag names and defaults follow ESO's where they mean the same thing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use external_secrets_controller::ControllerConfig;
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
    Controller(ControllerArgs),
    /// Print the CustomResourceDefinitions (YAML) to apply before running the controller.
    Crds,
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
    let client = kube::Client::try_default().await.context("no Kubernetes configuration (in-cluster or KUBECONFIG)")?;
    let config = ControllerConfig {
        namespace: (!args.namespace.is_empty()).then(|| args.namespace.clone()),
        controller_class: args.controller_class.clone(),
        concurrent: args.concurrent.max(1),
        store_requeue_interval: args.store_requeue_interval,
        enable_cluster_store_reconciler: args.enable_cluster_store_reconciler,
        enable_flood_gate: args.enable_flood_gate,
        ..ControllerConfig::default()
    };
    let metrics_addr = parse_addr(&args.metrics_addr)?;
    let live_addr = parse_addr(&args.live_addr)?;
    let registry = registry();
    tracing::info!(providers = ?registry.names(), namespace = ?config.namespace, "starting controller");
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => {
            print!("{}", external_secrets_api::crds_yaml());
            Ok(())
        }
        Command::Controller(args) => run_controller(args).await,
    }
}
