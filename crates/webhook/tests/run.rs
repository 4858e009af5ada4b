//! The webhook process as the binary runs it (`run`): it waits for its certificate to appear, then serves
//! HTTPS admission and plain-HTTP health, and reports ready only with a certificate valid for another hour.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use external_secrets_provider::ProviderRegistry;
use external_secrets_webhook::WebhookConfig;
use external_secrets_webhook::certcontroller::CertBundle;

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// Status code of a plain HTTP GET, or `None` when nothing answers.
async fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

async fn wait_status(addr: SocketAddr, path: &str, expected: u16) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let status = http_status(addr, path).await;
        if status == Some(expected) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{path}: {status:?}, expected {expected}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn waits_for_its_certificate_then_serves_and_is_ready_only_with_a_long_enough_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, healthz) = (free_addr(), free_addr());
    let config = WebhookConfig {
        addr,
        cert_dir: dir.path().to_path_buf(),
        healthz_addr: Some(healthz),
        reload_interval: Duration::from_millis(100),
        cert_wait: Duration::from_secs(10),
        tls: Default::default(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let webhook = tokio::spawn(external_secrets_webhook::run(config, ProviderRegistry::new(), async {
        let _ = stopped.await;
    }));

    // Nothing listens before the certificate exists.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(http_status(healthz, "/healthz").await, None);

    // A certificate valid for 30 minutes: serving, but not ready (less than an hour left).
    let short = CertBundle::generate(&["127.0.0.1".to_string()], Duration::from_secs(1800)).unwrap();
    std::fs::write(dir.path().join("tls.key"), &short.key_pem).unwrap();
    std::fs::write(dir.path().join("tls.crt"), &short.cert_pem).unwrap();
    wait_status(healthz, "/healthz", 200).await;
    wait_status(healthz, "/readyz", 503).await;
    std::fs::write(dir.path().join("ca.crt"), &short.ca_pem).unwrap();
    let output = tokio::process::Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string(), "-verify_return_error", "-CAfile"])
        .arg(dir.path().join("ca.crt"))
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("Verify return code: 0 (ok)"),
        "HTTPS with the certificate: {}",
        String::from_utf8_lossy(&output.stdout)
    );

    // A renewed certificate makes it ready, without a restart.
    let long = CertBundle::generate(&["127.0.0.1".to_string()], Duration::from_secs(86_400)).unwrap();
    std::fs::write(dir.path().join("tls.key"), &long.key_pem).unwrap();
    std::fs::write(dir.path().join("tls.crt"), &long.cert_pem).unwrap();
    wait_status(healthz, "/readyz", 200).await;

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), webhook).await.expect("stops").unwrap().unwrap();
}

#[tokio::test]
async fn gives_up_when_no_certificate_appears() {
    let dir = tempfile::tempdir().unwrap();
    let config = WebhookConfig {
        addr: free_addr(),
        cert_dir: dir.path().to_path_buf(),
        healthz_addr: None,
        reload_interval: Duration::from_millis(100),
        cert_wait: Duration::from_secs(1),
        tls: Default::default(),
    };
    let result = external_secrets_webhook::run(config, ProviderRegistry::new(), std::future::pending()).await;
    let message = result.expect_err("no certificate").to_string();
    assert!(message.contains("no valid certificate in"), "{message}");
}
