//! The webhook's serving certificate, read from `tls.crt`/`tls.key` in a directory (a mounted Secret) and
//! swapped in place when the files change, so a rotated certificate is served without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Why a certificate could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// The PEM text holds no usable certificate or key, or they do not belong together.
    #[error("{0}")]
    Invalid(String),
    /// No certificate appeared within the wait at start-up.
    #[error("no valid certificate in {dir} after {waited:?}: {last}")]
    NotFound { dir: PathBuf, waited: Duration, last: String },
}

/// The lowest TLS version the webhook accepts (`--tls-min-version`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3 (ESO's default `1.2`; also what `1.0` and `1.1` get: rustls has nothing older).
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// ESO's webhook TLS flags: `--tls-min-version` and `--tls-ciphers`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsPolicy {
    pub min_version: TlsVersion,
    /// TLS 1.2 cipher suites allowed, by their IANA names (which are Go's); empty: rustls' defaults.
    pub cipher_suites: Vec<String>,
}

impl TlsPolicy {
    /// The policy of ESO's flag values. Versions as ESO reads them (`""`, `1.0`, `1.1`, `1.2` → TLS 1.2 here,
    /// `1.3` and anything else → TLS 1.3). Cipher names rustls does not implement (CBC, RSA key exchange) are
    /// dropped and returned, to be logged; a list that leaves no TLS 1.2 suite is an error.
    pub fn from_flags(min_version: &str, ciphers: &str) -> Result<(Self, Vec<String>), TlsError> {
        let min_version = match min_version {
            "" | "1.0" | "1.1" | "1.2" => TlsVersion::Tls12,
            _ => TlsVersion::Tls13,
        };
        let known: Vec<String> = rustls::crypto::ring::default_provider()
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, rustls::SupportedCipherSuite::Tls12(_)))
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        let wanted: Vec<String> =
            ciphers.split(',').map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect();
        let (cipher_suites, unsupported): (Vec<String>, Vec<String>) =
            wanted.iter().cloned().partition(|c| known.contains(c));
        if !wanted.is_empty() && cipher_suites.is_empty() && min_version == TlsVersion::Tls12 {
            return Err(TlsError::Invalid(format!(
                "none of the --tls-ciphers is supported; supported TLS 1.2 suites: {}",
                known.join(",")
            )));
        }
        Ok((Self { min_version, cipher_suites }, unsupported))
    }
}

/// The file names in a certificate directory (those of a `kubernetes.io/tls` Secret and of ESO's).
pub const CERT_FILE: &str = "tls.crt";
/// See [`CERT_FILE`].
pub const KEY_FILE: &str = "tls.key";

struct Loaded {
    /// The PEM bytes the current key came from, to tell whether the files changed.
    pem: (Vec<u8>, Vec<u8>),
    key: Arc<CertifiedKey>,
    not_after: SystemTime,
}

/// A certificate resolver that always serves the newest valid `tls.crt`/`tls.key` of a directory.
pub struct ReloadingCert {
    dir: PathBuf,
    current: RwLock<Option<Loaded>>,
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert").field("dir", &self.dir).field("not_after", &self.not_after()).finish()
    }
}

impl ReloadingCert {
    /// A resolver for `dir`, with nothing loaded yet (see [`ReloadingCert::reload`]).
    pub fn new(dir: impl Into<PathBuf>) -> Arc<Self> {
        Arc::new(Self { dir: dir.into(), current: RwLock::new(None) })
    }

    /// Reads the files again; swaps the served certificate when they changed and are valid. Returns whether a
    /// new certificate is now served. On error the previous certificate stays in use (a Secret volume is
    /// updated file by file, so a half-written pair is normal for a moment).
    pub fn reload(&self) -> Result<bool, TlsError> {
        let read = |name: &str| {
            let path = self.dir.join(name);
            std::fs::read(&path).map_err(|source| TlsError::Read { path, source })
        };
        let pem = (read(CERT_FILE)?, read(KEY_FILE)?);
        if self.current.read().ok().and_then(|c| c.as_ref().map(|l| l.pem == pem)).unwrap_or(false) {
            return Ok(false);
        }
        let (key, not_after) = certified_key(&pem.0, &pem.1)?;
        if let Ok(mut current) = self.current.write() {
            *current = Some(Loaded { pem, key: Arc::new(key), not_after });
        }
        tracing::info!(dir = %self.dir.display(), not_after = %rfc3339(not_after), "serving certificate loaded");
        Ok(true)
    }

    /// Polls the files every `interval` until `shutdown` completes, reloading when they change.
    pub async fn watch(self: Arc<Self>, interval: Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = ticker.tick() => {
                    if let Err(e) = self.reload() {
                        tracing::warn!(error = %e, "serving certificate not reloaded; keeping the current one");
                    }
                }
            }
        }
    }

    /// Waits (bounded) until a valid certificate is loaded, as ESO's webhook waits for its mounted Secret.
    pub async fn wait_loaded(&self, wait: Duration) -> Result<(), TlsError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let last = match self.reload() {
                Ok(_) => return Ok(()),
                Err(e) => e.to_string(),
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(TlsError::NotFound { dir: self.dir.clone(), waited: wait, last });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// When the served certificate expires; `None` before one is loaded.
    pub fn not_after(&self) -> Option<SystemTime> {
        self.current.read().ok().and_then(|c| c.as_ref().map(|l| l.not_after))
    }

    /// Whether a certificate is served that is still valid `margin` from now (readiness).
    pub fn valid_for(&self, margin: Duration) -> bool {
        self.not_after().is_some_and(|not_after| not_after > SystemTime::now() + margin)
    }

    /// A rustls server configuration (HTTP/1.1) that serves whatever this resolver holds at handshake time.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, TlsError> {
        self.server_config_with(&TlsPolicy::default())
    }

    /// As [`ReloadingCert::server_config`], with the protocol versions and cipher suites of `policy`.
    pub fn server_config_with(self: &Arc<Self>, policy: &TlsPolicy) -> Result<Arc<ServerConfig>, TlsError> {
        let mut provider = rustls::crypto::ring::default_provider();
        if !policy.cipher_suites.is_empty() {
            provider.cipher_suites.retain(|suite| match suite {
                // As in Go, the list does not apply to TLS 1.3.
                rustls::SupportedCipherSuite::Tls13(_) => true,
                rustls::SupportedCipherSuite::Tls12(_) => {
                    policy.cipher_suites.iter().any(|name| *name == format!("{:?}", suite.suite()))
                }
            });
        }
        let versions: &[&rustls::SupportedProtocolVersion] = match policy.min_version {
            TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)
            .map_err(|e| TlsError::Invalid(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// The directory read.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().and_then(|c| c.as_ref().map(|l| l.key.clone()))
    }
}

/// Parses a PEM chain and key into a rustls key, checking that they belong together; returns the leaf's expiry.
fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> Result<(CertifiedKey, SystemTime), TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Invalid(format!("{CERT_FILE}: {e}")))?;
    let leaf = chain.first().ok_or_else(|| TlsError::Invalid(format!("{CERT_FILE} holds no certificate")))?;
    let not_after = not_after(leaf.as_ref())?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Invalid(format!("{KEY_FILE}: {e}")))?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(chain, key, &provider)
        .map_err(|e| TlsError::Invalid(format!("{CERT_FILE} and {KEY_FILE} do not match: {e}")))?;
    Ok((certified, not_after))
}

/// The `notAfter` of a DER certificate.
pub fn not_after(der: &[u8]) -> Result<SystemTime, TlsError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| TlsError::Invalid(format!("not an X.509 certificate: {e}")))?;
    let seconds = cert.validity().not_after.timestamp();
    let seconds = u64::try_from(seconds).map_err(|_| TlsError::Invalid("certificate expires before 1970".into()))?;
    Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
}

/// The `notAfter` of the first certificate in a PEM text.
pub fn pem_not_after(pem: &[u8]) -> Result<SystemTime, TlsError> {
    let first = CertificateDer::pem_slice_iter(pem)
        .next()
        .ok_or_else(|| TlsError::Invalid("no certificate in PEM".into()))?
        .map_err(|e| TlsError::Invalid(e.to_string()))?;
    not_after(first.as_ref())
}

/// A time as RFC 3339 text (UTC), for logs and messages.
pub fn rfc3339(time: SystemTime) -> String {
    jiff::Timestamp::try_from(time).map(|t| t.to_string()).unwrap_or_else(|_| format!("{time:?}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod policy_tests {
    use super::*;

    #[test]
    fn tls_flags_map_as_eso_reads_them() {
        assert_eq!(TlsPolicy::from_flags("1.2", "").unwrap().0, TlsPolicy::default());
        assert_eq!(TlsPolicy::from_flags("1.0", "").unwrap().0.min_version, TlsVersion::Tls12);
        assert_eq!(TlsPolicy::from_flags("1.3", "").unwrap().0.min_version, TlsVersion::Tls13);
        assert_eq!(TlsPolicy::from_flags("9", "").unwrap().0.min_version, TlsVersion::Tls13, "ESO: unknown → 1.3");
        let (policy, dropped) =
            TlsPolicy::from_flags("1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA")
                .unwrap();
        assert_eq!(policy.cipher_suites, ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]);
        assert_eq!(dropped, ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"]);
        assert!(TlsPolicy::from_flags("1.2", "TLS_RSA_WITH_AES_128_CBC_SHA").is_err());
    }

    #[test]
    fn server_configs_follow_the_policy() {
        let cert = ReloadingCert::new(Path::new("/nonexistent"));
        let only13 = TlsPolicy { min_version: TlsVersion::Tls13, cipher_suites: Vec::new() };
        assert!(cert.server_config_with(&only13).is_ok());
        assert!(cert.server_config().is_ok());
        let (one, _) = TlsPolicy::from_flags("1.2", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256").unwrap();
        let config = cert.server_config_with(&one).unwrap();
        let tls12: Vec<String> = config
            .crypto_provider()
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, rustls::SupportedCipherSuite::Tls12(_)))
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert_eq!(tls12, ["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"]);
        assert!(
            config.crypto_provider().cipher_suites.iter().any(|s| matches!(s, rustls::SupportedCipherSuite::Tls13(_)))
        );
    }
}
