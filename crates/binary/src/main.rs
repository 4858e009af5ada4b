//! `external-secrets`: the operator binary. As in ESO, the root command runs the controller; the subcommands are
//! the other roles (`webhook`, `certcontroller`; `controller` names the controller explicitly; `crds` prints the
//! CRDs). Every flag of ESO 2.9's commands is accepted ([`cli`]).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{CommandFactory, FromArgMatches};
use cli::{CertControllerArgs, Cli, Command, ControllerArgs, LogArgs, WebhookArgs};
use external_secrets_controller::{ControllerConfig, LeaderElectionConfig};
use external_secrets_generators::GeneratorRegistry;
use external_secrets_provider::ProviderRegistry;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

mod cli;
mod goflags;

/// With `--features dhat-heap`, every allocation is recorded and `dhat-heap.json` is written to the working
/// directory when the shutdown signal arrives — before anything is torn down, so its "end" is the steady state
/// the process was in; see bench/README.md.
#[cfg(feature = "dhat-heap")]
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[cfg(feature = "dhat-heap")]
static PROFILER: std::sync::Mutex<Option<dhat::Profiler>> = std::sync::Mutex::new(None);

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

/// What the controller's flags say about providers (the webhook and defaults: [`ProviderSettings::default`]).
#[derive(Clone, Debug, Default)]
struct ProviderSettings {
    #[cfg_attr(not(feature = "provider-aws"), expect(dead_code))]
    aws_refuse_default_credentials_for_namespaced_stores: bool,
}

/// The providers compiled into this binary: one line each, behind its cargo feature.
fn registry(settings: &ProviderSettings) -> ProviderRegistry {
    registries(settings).0
}

/// The providers, and the generators `generatorRef` may name: the built-in kinds and those a provider crate brings
/// (sharing that provider's clients and credential caches).
/// Only the AWS provider reads `settings` so far.
#[cfg_attr(not(feature = "provider-aws"), expect(unused_variables))]
fn registries(settings: &ProviderSettings) -> (ProviderRegistry, GeneratorRegistry) {
    let registry = ProviderRegistry::new();
    let generators = GeneratorRegistry::new();
    // Grafana needs no provider: its client is built here. It cannot fail with the TLS stack built in; if it ever
    // did, Grafana generators would be reported unsupported rather than stop the process.
    let generators = match external_secrets_generators::GrafanaGenerator::new() {
        Ok(grafana) => generators.with(Arc::new(grafana)),
        Err(e) => {
            tracing::warn!(error = %e, "the Grafana generator is not available");
            generators
        }
    };
    #[cfg(feature = "provider-fake")]
    let registry = registry.with(Arc::new(external_secrets_provider_fake::FakeProvider::new()));
    #[cfg(feature = "provider-kubernetes")]
    let registry = registry.with(Arc::new(external_secrets_provider_kubernetes::KubernetesProvider::new()));
    #[cfg(feature = "provider-aws")]
    let (registry, generators) = {
        let aws = Arc::new(
            external_secrets_provider_aws::AwsProvider::new().refusing_default_credentials_for_namespaced_stores(
                settings.aws_refuse_default_credentials_for_namespaced_stores,
            ),
        );
        (registry.with(aws.clone()), generators.with(Arc::new(aws.generators())))
    };
    #[cfg(feature = "provider-vault")]
    let (registry, generators) = {
        let vault = Arc::new(external_secrets_provider_vault::VaultProvider::new());
        (registry.with(vault.clone()), generators.with(Arc::new(vault.generators())))
    };
    #[cfg(feature = "provider-webhook")]
    let (registry, generators) = {
        let webhook = Arc::new(external_secrets_provider_webhook::WebhookProvider::new());
        (registry.with(webhook.clone()), generators.with(Arc::new(webhook.generators())))
    };
    #[cfg(feature = "provider-gcp")]
    let registry = registry.with(Arc::new(external_secrets_provider_gcp::GcpProvider::new()));
    (registry, generators)
}

/// Logging as the shared flags say; then one line per accept-only flag that was given (its name, never a value).
fn init_logging(log: &LogArgs, given_without_effect: &[(String, &'static str)]) -> anyhow::Result<()> {
    let level = &log.loglevel;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(format!("{level},kube_runtime=warn,kube_client=warn,hyper=warn,aws=warn")))
        .context("invalid --loglevel")?;
    let cap = tracing_subscriber::filter::filter_fn(|meta| wire_log_allowed(meta.target(), *meta.level()));
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_timer(log.zap_time_encoding);
    let layer = match log.log_format.as_str() {
        "json" => layer.json().with_filter(filter).with_filter(cap).boxed(),
        _ => layer.with_filter(filter).with_filter(cap).boxed(),
    };
    tracing_subscriber::registry().with(layer).init();
    for (flag, reason) in given_without_effect {
        tracing::info!(flag = %flag, reason, "ESO flag accepted; it has no effect here");
    }
    Ok(())
}

/// Crates below us that log request and response bodies (credentials, secret values), with the most verbose level
/// of theirs that is written whatever `RUST_LOG` says: the AWS SDK's HTTP stack (smithy, with its
/// `LOG_SENSITIVE_BODIES` switch), hyper, h2, rustls and reqwest log bodies at `TRACE`; kube's client logs every
/// unsuccessful apiserver answer at `DEBUG` (`Unsuccessful: Status { message: ... }`), and the apiserver quotes the
/// values it refuses — label values and keys rendered from secret data (the leak scan, tests/leak_scan_e2e.rs).
const WIRE_LOG_TARGETS: [(&str, tracing::Level); 9] = [
    ("aws_smithy", tracing::Level::DEBUG),
    ("aws_sdk", tracing::Level::DEBUG),
    ("aws_config", tracing::Level::DEBUG),
    ("aws_sigv4", tracing::Level::DEBUG),
    ("hyper", tracing::Level::DEBUG),
    ("h2", tracing::Level::DEBUG),
    ("rustls", tracing::Level::DEBUG),
    ("reqwest", tracing::Level::DEBUG),
    ("kube_client", tracing::Level::INFO),
];

/// Whether an event of `target` at `level` may be written (see [`WIRE_LOG_TARGETS`]).
fn wire_log_allowed(target: &str, level: tracing::Level) -> bool {
    WIRE_LOG_TARGETS.iter().find(|(t, _)| target.starts_with(t)).is_none_or(|(_, most_verbose)| level <= *most_verbose)
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
    #[cfg(feature = "dhat-heap")]
    if let Ok(mut profiler) = PROFILER.lock() {
        drop(profiler.take());
    }
}

async fn run_controller(args: ControllerArgs, no_effect: &[(String, &'static str)]) -> anyhow::Result<()> {
    init_logging(&args.log, no_effect)?;
    args.metrics_serving.check()?;
    let kube_config = kube::Config::infer().await.context("no Kubernetes configuration (in-cluster or KUBECONFIG)")?;
    let client =
        external_secrets_controller::ratelimit::client(kube_config, args.client_qps.unwrap_or(0.0), args.client_burst)
            .context("could not build the Kubernetes client")?;
    let (registry, generators) = registries(&ProviderSettings {
        aws_refuse_default_credentials_for_namespaced_stores: args.aws_refuse_default_credentials_for_namespaced_stores,
    });
    let config = ControllerConfig {
        namespace: (!args.namespace.is_empty()).then(|| args.namespace.clone()),
        controller_class: args.controller_class.clone(),
        concurrent: args.concurrent.max(1),
        store_requeue_interval: args.store_requeue_interval,
        enable_cluster_store_reconciler: args.enable_cluster_store_reconciler,
        enable_secret_store_reconciler: args.enable_secret_store_reconciler,
        enable_cluster_external_secret_reconciler: args.enable_cluster_external_secret_reconciler,
        enable_push_secret_reconciler: args.enable_push_secret_reconciler,
        enable_cluster_push_secret_reconciler: args.enable_cluster_push_secret_reconciler,
        enable_extended_metric_labels: args.enable_extended_metric_labels,
        enable_flood_gate: args.enable_flood_gate,
        template_delimiters: external_secrets_template::Delimiters::new(
            args.template_left_delimiter.clone(),
            args.template_right_delimiter.clone(),
        ),
        leader_election: args.leader_election()?,
        allow_generic_targets: args.unsafe_allow_generic_targets,
        generators,
        enable_generator_state: args.enable_generator_state,
        generator_gc_grace_period: args.generator_gc_grace_period,
        ..ControllerConfig::default()
    };
    let metrics_addr = parse_addr(&args.metrics_addr)?;
    let live_addr = parse_addr(&args.live_addr)?;
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

async fn run_webhook(args: WebhookArgs, no_effect: &[(String, &'static str)]) -> anyhow::Result<()> {
    init_logging(&args.log, no_effect)?;
    args.metrics_serving.check()?;
    let (tls, unsupported) =
        external_secrets_webhook::tls::TlsPolicy::from_flags(&args.tls_min_version, &args.tls_ciphers)
            .context("invalid --tls-ciphers")?;
    for cipher in unsupported {
        tracing::warn!(%cipher, "--tls-ciphers names a cipher suite rustls does not implement; it is left out");
    }
    let config = external_secrets_webhook::WebhookConfig {
        addr: SocketAddr::from(([0, 0, 0, 0], args.port)),
        cert_dir: args.cert_dir,
        healthz_addr: parse_addr(&args.healthz_addr)?,
        reload_interval: args.check_interval,
        cert_wait: args.cert_wait,
        tls,
    };
    external_secrets_webhook::run(config, registry(&ProviderSettings::default()), shutdown_signal())
        .await
        .context("webhook failed")
}

async fn run_cert_controller(args: CertControllerArgs, no_effect: &[(String, &'static str)]) -> anyhow::Result<()> {
    use external_secrets_webhook::certcontroller::{self, CertControllerConfig};
    init_logging(&args.log, no_effect)?;
    args.metrics_serving.check()?;
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

/// Stack of each runtime worker thread. Debug builds lay large futures out on the stack (the store reconcile with
/// every provider compiled in overflowed tokio's 2 MiB); release builds need far less. Only touched pages cost
/// memory.
const WORKER_STACK: usize = 8 * 1024 * 1024;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(WORKER_STACK)
        .build()
        .context("could not start the async runtime")?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    #[cfg(feature = "dhat-heap")]
    if let Ok(mut profiler) = PROFILER.lock() {
        *profiler = Some(dhat::Profiler::builder().trim_backtraces(Some(48)).build());
    }
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).map_err(|e| e.exit())?;
    match cli.command {
        Some(Command::Crds) => {
            print!("{}", external_secrets_api::crds_yaml());
            Ok(())
        }
        None => run_controller(*cli.controller, &cli::given_without_effect(&matches, cli::CONTROLLER_NO_EFFECT)).await,
        Some(Command::Controller(args)) => {
            let sub = matches.subcommand_matches("controller").unwrap_or(&matches);
            run_controller(*args, &cli::given_without_effect(sub, cli::CONTROLLER_NO_EFFECT)).await
        }
        Some(Command::Webhook(args)) => {
            let sub = matches.subcommand_matches("webhook").unwrap_or(&matches);
            run_webhook(*args, &cli::given_without_effect(sub, cli::WEBHOOK_NO_EFFECT)).await
        }
        Some(Command::Certcontroller(args)) => {
            let sub = matches.subcommand_matches("certcontroller").unwrap_or(&matches);
            run_cert_controller(*args, &cli::given_without_effect(sub, cli::CERTCONTROLLER_NO_EFFECT)).await
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::*;

    /// Every flag of ESO 2.9's root (controller) command, with ESO's default as it would be written on a command
    /// line (`cmd/controller/root.go` and the provider feature flags it adds).
    const ESO_CONTROLLER_FLAGS: &[(&str, &str)] = &[
        ("metrics-addr", ":8080"),
        ("metrics-auth", "false"),
        ("metrics-secure", "false"),
        ("metrics-cert-dir", ""),
        ("metrics-cert-name", "tls.crt"),
        ("metrics-key-name", "tls.key"),
        ("controller-class", "default"),
        ("enable-leader-election", "false"),
        ("leader-election-id", "external-secrets-controller"),
        ("leader-election-lease-duration", "15s"),
        ("leader-election-renew-deadline", "10s"),
        ("leader-election-retry-period", "2s"),
        ("concurrent", "1"),
        ("client-qps", "50"),
        ("client-burst", "100"),
        ("live-addr", ":8082"),
        ("loglevel", "info"),
        ("zap-time-encoding", "epoch"),
        ("namespace", ""),
        ("enable-cluster-store-reconciler", "true"),
        ("enable-secret-store-reconciler", "true"),
        ("enable-cluster-external-secret-reconciler", "true"),
        ("enable-cluster-push-secret-reconciler", "true"),
        ("enable-push-secret-reconciler", "true"),
        ("enable-secrets-caching", "false"),
        ("enable-configmaps-caching", "false"),
        ("enable-managed-secrets-caching", "true"),
        ("enable-secret-api-read-on-cache-mismatch", "true"),
        ("store-requeue-interval", "5m0s"),
        ("enable-flood-gate", "true"),
        ("enable-generator-state", "true"),
        ("enable-extended-metric-labels", "false"),
        ("enable-http2", "false"),
        ("unsafe-allow-generic-targets", "false"),
        ("template-left-delimiter", "{{"),
        ("template-right-delimiter", "}}"),
        ("generator-gc-grace-period", "2m0s"),
        ("enable-vault-token-cache", "false"),
        ("vault-token-cache-size", "262144"),
        ("experimental-enable-vault-token-cache", "false"),
        ("experimental-vault-token-cache-size", "262144"),
        ("experimental-enable-doppler-oidc-cache", "false"),
        ("experimental-doppler-oidc-cache-size", "262144"),
        ("doppler-etag-cache-size", "16384"),
        ("pulumi-oidc-cache-size", "262144"),
        ("mysterybox-tokens-cache-size", "4096"),
        ("mysterybox-connections-cache-size", "128"),
    ];

    /// Every flag of ESO 2.9's `webhook` command (`cmd/controller/webhook.go`), with ESO's default.
    const ESO_WEBHOOK_FLAGS: &[(&str, &str)] = &[
        ("metrics-addr", ":8080"),
        ("healthz-addr", ":8081"),
        ("metrics-auth", "false"),
        ("metrics-secure", "false"),
        ("metrics-cert-dir", ""),
        ("metrics-cert-name", "tls.crt"),
        ("metrics-key-name", "tls.key"),
        ("port", "10250"),
        ("dns-name", "localhost"),
        ("cert-dir", "/tmp/k8s-webhook-server/serving-certs"),
        ("zap-time-encoding", "epoch"),
        ("loglevel", "info"),
        ("check-interval", "5m0s"),
        ("lookahead-interval", "2160h0m0s"),
        ("tls-ciphers", ""),
        ("tls-min-version", "1.2"),
        ("enable-http2", "false"),
    ];

    /// Every flag of ESO 2.9's `certcontroller` command (`cmd/controller/certcontroller.go`), with ESO's default.
    const ESO_CERTCONTROLLER_FLAGS: &[(&str, &str)] = &[
        ("metrics-addr", ":8080"),
        ("healthz-addr", ":8081"),
        ("metrics-auth", "false"),
        ("metrics-secure", "false"),
        ("metrics-cert-dir", ""),
        ("metrics-cert-name", "tls.crt"),
        ("metrics-key-name", "tls.key"),
        ("service-name", "external-secrets-webhook"),
        ("service-namespace", "default"),
        ("secret-name", "external-secrets-webhook"),
        ("secret-namespace", "default"),
        (
            "crd-names",
            "externalsecrets.external-secrets.io,clustersecretstores.external-secrets.io,secretstores.external-secrets.io",
        ),
        ("enable-partial-cache", "false"),
        ("enable-leader-election", "false"),
        ("loglevel", "info"),
        ("zap-time-encoding", "epoch"),
        ("crd-requeue-interval", "5m0s"),
        ("enable-http2", "false"),
    ];

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from([&["external-secrets"], args].concat())
    }

    fn controller_args(args: &[&str]) -> ControllerArgs {
        let cli = parse(&[&["controller"], args].concat()).unwrap();
        match cli.command {
            Some(Command::Controller(args)) => *args,
            _ => unreachable!("parsed the controller subcommand"),
        }
    }

    fn is_bool(flags: &[(&str, &str)], flag: &str) -> bool {
        flags.iter().any(|(f, d)| *f == flag && (*d == "true" || *d == "false"))
    }

    /// Each flag as `--flag=default`, then all of them at once; non-boolean flags also as `--flag default`.
    fn accepts_every_flag(prefix: &[&str], flags: &[(&str, &str)]) {
        let mut all: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
        for (flag, default) in flags {
            let joined = format!("--{flag}={default}");
            if let Err(e) = parse(&[prefix, &[joined.as_str()]].concat()) {
                panic!("{prefix:?} {joined}: {e}");
            }
            if !is_bool(flags, flag) {
                let name = format!("--{flag}");
                if let Err(e) = parse(&[prefix, &[name.as_str(), default]].concat()) {
                    panic!("{prefix:?} {name} {default:?}: {e}");
                }
            } else {
                let bare = format!("--{flag}");
                if let Err(e) = parse(&[prefix, &[bare.as_str()]].concat()) {
                    panic!("{prefix:?} {bare}: {e}");
                }
            }
            all.push(joined);
        }
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        if let Err(e) = parse(&all) {
            panic!("all of {prefix:?} at once: {e}");
        }
    }

    #[test]
    fn root_command_accepts_every_eso_controller_flag_with_esos_default() {
        accepts_every_flag(&[], ESO_CONTROLLER_FLAGS);
    }

    #[test]
    fn controller_subcommand_accepts_every_eso_controller_flag_too() {
        accepts_every_flag(&["controller"], ESO_CONTROLLER_FLAGS);
    }

    #[test]
    fn webhook_accepts_every_eso_webhook_flag_with_esos_default() {
        accepts_every_flag(&["webhook"], ESO_WEBHOOK_FLAGS);
    }

    #[test]
    fn certcontroller_accepts_every_eso_certcontroller_flag_with_esos_default() {
        accepts_every_flag(&["certcontroller"], ESO_CERTCONTROLLER_FLAGS);
    }

    #[test]
    fn esos_chart_default_arguments_run_the_controller_as_the_root_command() {
        let cli =
            parse(&["--concurrent=1", "--metrics-addr=:8080", "--loglevel=info", "--zap-time-encoding=epoch"]).unwrap();
        assert!(cli.command.is_none(), "the root command is the controller");
        assert_eq!(cli.controller.concurrent, 1);
        assert_eq!(parse_addr(&cli.controller.metrics_addr).unwrap(), Some(SocketAddr::from(([0, 0, 0, 0], 8080))));
        assert_eq!(cli.controller.log.zap_time_encoding, goflags::TimeEncoding::Epoch);
        // Flags of the root command belong to it only, as in cobra.
        assert!(parse(&["--concurrent=1", "webhook"]).is_err());
        assert!(parse(&["webhook", "--concurrent=1"]).is_err());
    }

    #[test]
    fn unknown_flags_and_go_syntax_errors_are_refused() {
        assert!(parse(&["--no-such-flag"]).is_err());
        assert!(parse(&["--enable-flood-gate=maybe"]).is_err());
        assert!(parse(&["--store-requeue-interval=5"]).is_err(), "a Go duration needs a unit");
        assert!(parse(&["--loglevel=verbose"]).is_err());
        // pflag takes a boolean's value only after `=`: `--flag false` leaves a stray argument.
        assert!(parse(&["--enable-flood-gate", "false"]).is_err());
    }

    #[test]
    fn honoured_controller_flags_reach_the_settings() {
        let args = controller_args(&[
            "--enable-secret-store-reconciler=false",
            "--enable-cluster-store-reconciler=0",
            "--enable-flood-gate=F",
            "--enable-extended-metric-labels",
            "--template-left-delimiter=<<",
            "--template-right-delimiter",
            ">>",
            "--store-requeue-interval=1h30m",
            "--loglevel=dpanic",
            "--zap-time-encoding=rfc3339nano",
            "--enable-generator-state=false",
            "--generator-gc-grace-period=1m30s",
        ]);
        assert!(!args.enable_secret_store_reconciler && !args.enable_cluster_store_reconciler);
        assert!(!args.enable_generator_state);
        assert_eq!(args.generator_gc_grace_period, Duration::from_secs(90));
        assert!(!args.enable_flood_gate && args.enable_extended_metric_labels);
        assert_eq!((args.template_left_delimiter.as_str(), args.template_right_delimiter.as_str()), ("<<", ">>"));
        assert_eq!(args.store_requeue_interval, Duration::from_secs(5400));
        assert_eq!(args.log.loglevel, "error");
        assert_eq!(args.log.zap_time_encoding, goflags::TimeEncoding::Rfc3339Nano);
    }

    #[test]
    fn metrics_tls_and_auth_are_refused_rather_than_silently_served_in_plain_text() {
        assert!(controller_args(&[]).metrics_serving.check().is_ok());
        assert!(controller_args(&["--metrics-secure"]).metrics_serving.check().is_err());
        assert!(controller_args(&["--metrics-auth=true", "--metrics-secure=true"]).metrics_serving.check().is_err());
    }

    #[test]
    fn accept_only_flags_given_are_named_once_without_their_values() {
        let matches = Cli::command()
            .try_get_matches_from([
                "external-secrets",
                "--enable-vault-token-cache",
                "--doppler-etag-cache-size=7",
                "--concurrent=1",
                "--metrics-cert-dir=/very/secret/path",
            ])
            .unwrap();
        let given = cli::given_without_effect(&matches, cli::CONTROLLER_NO_EFFECT);
        let mut names: Vec<&str> = given.iter().map(|(f, _)| f.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["--doppler-etag-cache-size", "--enable-vault-token-cache", "--metrics-cert-dir"]);
        assert!(given.iter().all(|(f, r)| !f.contains("secret/path") && !r.contains("secret/path")));
        let webhook = Cli::command().try_get_matches_from(["external-secrets", "webhook", "--dns-name=x", "--port=1"]);
        let webhook = webhook.unwrap();
        let sub = webhook.subcommand_matches("webhook").unwrap();
        let given = cli::given_without_effect(sub, cli::WEBHOOK_NO_EFFECT);
        assert_eq!(given.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(), ["--dns-name"]);
    }

    #[test]
    fn every_accept_only_flag_is_an_eso_flag_and_documented() {
        let docs =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/compatibility.md")).unwrap();
        for (table, flags) in [
            (cli::CONTROLLER_NO_EFFECT, ESO_CONTROLLER_FLAGS),
            (cli::WEBHOOK_NO_EFFECT, ESO_WEBHOOK_FLAGS),
            (cli::CERTCONTROLLER_NO_EFFECT, ESO_CERTCONTROLLER_FLAGS),
        ] {
            for (flag, _) in table {
                assert!(flags.iter().any(|(f, _)| f == flag), "--{flag} is not an ESO flag of that command");
                assert!(docs.contains(&format!("`--{flag}`")), "--{flag} is not in docs/compatibility.md");
            }
        }
    }

    #[test]
    fn webhook_and_certcontroller_defaults() {
        let cli = parse(&["webhook"]).unwrap();
        let Some(Command::Webhook(webhook)) = cli.command else { unreachable!("webhook") };
        assert_eq!(webhook.port, 9443, "not 10250, the kubelet port on Fargate");
        assert_eq!(webhook.cert_dir, std::path::PathBuf::from("/tmp/certs"));
        assert_eq!(parse_addr(&webhook.healthz_addr).unwrap(), Some(SocketAddr::from(([0, 0, 0, 0], 8081))));
        let cli = parse(&["certcontroller", "--secret-namespace=eso"]).unwrap();
        let Some(Command::Certcontroller(certs)) = cli.command else { unreachable!("certcontroller") };
        assert_eq!((certs.secret_name.as_str(), certs.secret_namespace.as_str()), ("external-secrets-webhook", "eso"));
        assert!(certs.cert_validity > certs.cert_lookahead);
        assert_eq!(certs.crd_names.len(), 3);
        let cli = parse(&["certcontroller", "--crd-names=a,b", "--crd-names", "c"]).unwrap();
        let Some(Command::Certcontroller(certs)) = cli.command else { unreachable!("certcontroller") };
        assert_eq!(certs.crd_names, ["a", "b", "c"]);
    }

    #[test]
    fn wire_logs_stay_off_whatever_rust_log_says() {
        use tracing::Level;
        for target in ["aws_smithy_runtime::client::orchestrator", "hyper_util::client::legacy", "h2::codec", "rustls"]
        {
            assert!(!wire_log_allowed(target, Level::TRACE), "{target}");
            assert!(wire_log_allowed(target, Level::DEBUG), "{target}");
        }
        assert!(wire_log_allowed("external_secrets_controller::externalsecret", Level::TRACE));
        assert!(wire_log_allowed("kube_runtime::controller", Level::TRACE));
        // kube's client logs the apiserver's refusals, which quote rendered values, at DEBUG.
        assert!(!wire_log_allowed("kube_client::client", Level::DEBUG));
        assert!(wire_log_allowed("kube_client::client", Level::INFO));
    }

    #[test]
    fn defaults_are_esos() {
        let args = controller_args(&[]);
        // Deliberately not ESO's 50 QPS (docs/compatibility.md); the burst is ESO's, used with --client-qps.
        assert_eq!((args.client_qps, args.client_burst), (None, 100));
        assert_eq!(controller_args(&["--client-qps=50"]).client_qps, Some(50.0));
        assert!(!args.enable_leader_election);
        assert!(args.leader_election().unwrap().is_none());
        assert_eq!(args.leader_election_id, "external-secrets-controller");
        assert_eq!(args.leader_election_lease_duration, Duration::from_secs(15));
        assert_eq!(args.leader_election_renew_deadline, Duration::from_secs(10));
        assert_eq!(args.leader_election_retry_period, Duration::from_secs(2));
        assert_eq!((args.template_left_delimiter.as_str(), args.template_right_delimiter.as_str()), ("{{", "}}"));
        assert!(args.enable_secret_store_reconciler && args.enable_cluster_store_reconciler);
        assert!(!args.enable_extended_metric_labels);
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

    /// Implementing a provider is not done until the binary serves it: `ProviderKind::implemented` and the
    /// registry lines above must agree.
    #[cfg(all(feature = "provider-fake", feature = "provider-kubernetes", feature = "provider-aws"))]
    #[test]
    fn the_default_build_serves_every_implemented_provider() {
        let implemented: Vec<external_secrets_api::ProviderKind> =
            external_secrets_api::ProviderKind::ALL.into_iter().filter(|kind| kind.implemented()).collect();
        assert_eq!(registry(&ProviderSettings::default()).kinds(), implemented);
    }
}
