//! What one client can hold of the admission server: slow headers, slow bodies, oversized bodies and too many
//! connections are cut off (issue 9: slowloris). Real TLS over loopback, with small limits so the test is quick.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use external_secrets_provider::ProviderRegistry;
use external_secrets_webhook::certcontroller::CertBundle;
use external_secrets_webhook::server::{EXTERNAL_SECRET_PATH, Limits, router, serve_tls_with};
use external_secrets_webhook::tls::ReloadingCert;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

const LIMITS: Limits = Limits {
    header_read_timeout: Duration::from_secs(1),
    request_timeout: Duration::from_secs(2),
    max_connections: 2,
    max_body_bytes: 4096,
};

/// A bound on how long the server may take to act on a limit (generous: this is not a timing test).
const PATIENCE: Duration = Duration::from_secs(15);

struct Server {
    addr: std::net::SocketAddr,
    connector: TlsConnector,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let bundle = CertBundle::generate(&["127.0.0.1".to_string()], Duration::from_secs(86_400)).unwrap();
    std::fs::write(dir.path().join("tls.key"), &bundle.key_pem).unwrap();
    std::fs::write(dir.path().join("tls.crt"), &bundle.cert_pem).unwrap();
    let cert = ReloadingCert::new(dir.path());
    cert.wait_loaded(Duration::from_secs(5)).await.unwrap();
    let tls = cert.server_config().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_tls_with(listener, router(ProviderRegistry::new()), tls, LIMITS, async {
        let _ = stopped.await;
    }));

    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for ca in rustls::pki_types::CertificateDer::pem_slice_iter(bundle.ca_pem.as_bytes()) {
        roots.add(ca.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    Server { addr, connector: TlsConnector::from(Arc::new(config)), _stop: stop, _dir: dir }
}

impl Server {
    async fn connect(&self) -> TlsStream<TcpStream> {
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        self.connector.connect(name, tcp).await.unwrap()
    }
}

/// Reads until the server closes the connection (or PATIENCE passes: then the test fails); returns what came.
async fn read_until_closed(stream: &mut TlsStream<TcpStream>) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server kept the connection open: {}", String::from_utf8_lossy(&out));
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn headers_that_never_finish_get_the_connection_closed() {
    let server = start().await;
    let mut stream = server.connect().await;
    stream.write_all(format!("POST {EXTERNAL_SECRET_PATH} HTTP/1.1\r\nHost: x\r\n").as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    read_until_closed(&mut stream).await;
}

#[tokio::test]
async fn a_body_that_never_finishes_gets_408() {
    let server = start().await;
    let mut stream = server.connect().await;
    let head = format!(
        "POST {EXTERNAL_SECRET_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf)).await.expect("an answer").unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn an_oversized_body_gets_413() {
    let server = start().await;
    let mut stream = server.connect().await;
    let body = format!("{{\"padding\": \"{}\"}}", "x".repeat(LIMITS.max_body_bytes * 2));
    let request = format!(
        "POST {EXTERNAL_SECRET_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // The server may answer and close before reading it all; a failed write is fine, the answer is what counts.
    let _ = stream.write_all(request.as_bytes()).await;
    let answer = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    let server = start().await;
    let first = server.connect().await;
    let _second = server.connect().await;
    // The third TCP connection is accepted by the kernel, but its TLS handshake is not served while two are open.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let third = tokio::spawn(server.connector.connect(name, tcp));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!third.is_finished(), "a third connection was served past the cap of two");
    drop(first);
    let served = tokio::time::timeout(PATIENCE, third).await.expect("served once a slot is free").unwrap();
    assert!(served.is_ok(), "{served:?}");
}
