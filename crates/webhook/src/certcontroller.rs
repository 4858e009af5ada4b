//! The certificate controller: keeps a CA and the webhook's serving certificate in a Secret
//! (`ca.crt`/`tls.crt`/`tls.key`, as ESO's), injects the CA bundle into the ValidatingWebhookConfigurations
//! labelled `external-secrets.io/component=webhook`, and replaces the certificate when it is within a
//! lookahead window of expiry.
//!
//! Rotation without an outage: the new `ca.crt` holds the new CA *and* the previous one while that is still
//! valid, so the API server trusts both the old certificate (still served until the kubelet updates the
//! webhook's volume and the webhook reloads it) and the new one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::tls::{CERT_FILE, KEY_FILE, pem_not_after};

/// The Secret key of the CA bundle.
pub const CA_FILE: &str = "ca.crt";
/// The label selecting the ValidatingWebhookConfigurations to inject (ESO's).
pub const WEBHOOK_COMPONENT_SELECTOR: &str = "external-secrets.io/component=webhook";

/// Errors of one reconcile.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// Generating the certificates failed.
    #[error("generating certificates: {0}")]
    Generate(#[from] rcgen::Error),
    /// The API server refused or failed.
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
    /// A validity or time could not be represented.
    #[error("{0}")]
    Time(String),
}

/// What the controller manages.
#[derive(Clone, Debug)]
pub struct CertControllerConfig {
    /// Namespace and name of the Secret holding `ca.crt`/`tls.crt`/`tls.key`.
    pub secret_namespace: String,
    /// See `secret_namespace`.
    pub secret_name: String,
    /// DNS names (and IP addresses) the serving certificate is valid for: the webhook Service's names.
    pub hosts: Vec<String>,
    /// How long new certificates are valid.
    pub validity: Duration,
    /// A certificate expiring within this window is replaced.
    pub lookahead: Duration,
    /// Label selector of the ValidatingWebhookConfigurations to inject the CA bundle into.
    pub webhook_selector: String,
}

impl CertControllerConfig {
    /// The names a Service `service` in `namespace` answers to inside the cluster.
    pub fn service_hosts(service: &str, namespace: &str) -> Vec<String> {
        vec![
            service.to_string(),
            format!("{service}.{namespace}"),
            format!("{service}.{namespace}.svc"),
            format!("{service}.{namespace}.svc.cluster.local"),
        ]
    }
}

/// A CA bundle, serving certificate and key, PEM encoded. Holds a private key: no `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct CertBundle {
    /// The CA certificate(s) clients should trust (newest first).
    pub ca_pem: String,
    /// The serving certificate.
    pub cert_pem: String,
    /// The serving certificate's private key.
    pub key_pem: String,
}

impl CertBundle {
    /// A fresh CA and a serving certificate for `hosts`, both valid from an hour ago (clock skew) for
    /// `validity`.
    pub fn generate(hosts: &[String], validity: Duration) -> Result<Self, CertError> {
        let now = time::OffsetDateTime::now_utc();
        let validity = time::Duration::try_from(validity).map_err(|e| CertError::Time(e.to_string()))?;
        let not_before = now - time::Duration::hours(1);
        let not_after = now + validity;

        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::default();
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.distinguished_name = name("external-secrets-webhook-ca");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        (ca.not_before, ca.not_after) = (not_before, not_after);
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, &ca_key);

        let key = KeyPair::generate()?;
        let mut serving = CertificateParams::default();
        serving.subject_alt_names = hosts
            .iter()
            .map(|host| match host.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => host.clone().try_into().map(SanType::DnsName),
            })
            .collect::<Result<_, _>>()?;
        serving.distinguished_name = name(hosts.first().map(String::as_str).unwrap_or("external-secrets-webhook"));
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        serving.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        (serving.not_before, serving.not_after) = (not_before, not_after);
        let cert = serving.signed_by(&key, &issuer)?;
        Ok(Self { ca_pem: ca_cert.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }

    /// The bundle stored in a Secret, if all three keys are there.
    pub fn from_secret(secret: &Secret) -> Option<Self> {
        let data = secret.data.as_ref()?;
        let text = |key: &str| data.get(key).and_then(|v| String::from_utf8(v.0.clone()).ok());
        Some(Self { ca_pem: text(CA_FILE)?, cert_pem: text(CERT_FILE)?, key_pem: text(KEY_FILE)? })
    }

    fn secret_data(&self) -> BTreeMap<String, ByteString> {
        [(CA_FILE, &self.ca_pem), (CERT_FILE, &self.cert_pem), (KEY_FILE, &self.key_pem)]
            .into_iter()
            .map(|(key, pem)| (key.to_string(), ByteString(pem.as_bytes().to_vec())))
            .collect()
    }

    /// Why this bundle must be replaced at `now`, or `None` when it is good for longer than `lookahead`.
    pub fn needs_rotation(&self, now: SystemTime, lookahead: Duration) -> Option<String> {
        match pem_not_after(self.cert_pem.as_bytes()) {
            Err(e) => Some(format!("the stored certificate cannot be read: {e}")),
            Ok(not_after) if not_after <= now + lookahead => Some(format!(
                "the certificate expires at {}, within the lookahead of {lookahead:?}",
                crate::tls::rfc3339(not_after)
            )),
            Ok(_) => None,
        }
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

/// The CA certificates of `pem` that are still valid at `now`, as PEM.
fn valid_cas(pem: &str, now: SystemTime) -> Vec<String> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .filter(|der| crate::tls::not_after(der.as_ref()).is_ok_and(|not_after| not_after > now))
        .map(|der| pem_encode(der.as_ref()))
        .collect()
}

fn pem_encode(der: &[u8]) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> =
        text.as_bytes().chunks(64).map(|chunk| std::str::from_utf8(chunk).unwrap_or_default()).collect();
    format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
}

/// What one reconcile did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// A new certificate was written (why).
    pub rotated: Option<String>,
    /// ValidatingWebhookConfigurations whose CA bundle was updated.
    pub injected: Vec<String>,
}

/// One pass: make sure the Secret holds a certificate good beyond the lookahead (replacing it otherwise),
/// then make sure every labelled ValidatingWebhookConfiguration trusts its CA bundle. Idempotent.
pub async fn reconcile(client: &kube::Client, config: &CertControllerConfig) -> Result<Outcome, CertError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &config.secret_namespace);
    let now = SystemTime::now();
    let existing = secrets.get_opt(&config.secret_name).await?;
    let current = existing.as_ref().and_then(CertBundle::from_secret);
    let why = match &current {
        None => Some("the Secret holds no certificate".to_string()),
        Some(bundle) => bundle.needs_rotation(now, config.lookahead),
    };

    let mut outcome = Outcome::default();
    let bundle = match (why, current) {
        (None, Some(bundle)) => bundle,
        (why, previous) => {
            let mut bundle = CertBundle::generate(&config.hosts, config.validity)?;
            // Keep trusting the previous CA until the webhook serves the new certificate.
            if let Some(previous) = previous {
                for ca in valid_cas(&previous.ca_pem, now).into_iter().take(1) {
                    bundle.ca_pem.push_str(&ca);
                }
            }
            write_secret(&secrets, config, existing, &bundle).await?;
            tracing::info!(
                secret = %config.secret_name,
                namespace = %config.secret_namespace,
                why = why.as_deref().unwrap_or_default(),
                "webhook certificate replaced"
            );
            outcome.rotated = why;
            bundle
        }
    };
    outcome.injected = inject_ca_bundle(client, &config.webhook_selector, bundle.ca_pem.as_bytes()).await?;
    Ok(outcome)
}

/// Writes the bundle: creates the Secret, or replaces its data at the resourceVersion read (so of two
/// controllers racing, one wins and the other sees a valid certificate on its next pass).
async fn write_secret(
    secrets: &Api<Secret>,
    config: &CertControllerConfig,
    existing: Option<Secret>,
    bundle: &CertBundle,
) -> Result<(), CertError> {
    match existing {
        Some(mut secret) => {
            secret.data = Some(bundle.secret_data());
            secrets.replace(&config.secret_name, &PostParams::default(), &secret).await?;
        }
        None => {
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(config.secret_name.clone()),
                    namespace: Some(config.secret_namespace.clone()),
                    labels: Some(BTreeMap::from([(
                        "external-secrets.io/component".to_string(),
                        "webhook".to_string(),
                    )])),
                    ..Default::default()
                },
                data: Some(bundle.secret_data()),
                ..Default::default()
            };
            secrets.create(&PostParams::default(), &secret).await?;
        }
    }
    Ok(())
}

/// Sets `caBundle` of every webhook of every selected configuration; returns the names changed.
async fn inject_ca_bundle(client: &kube::Client, selector: &str, ca: &[u8]) -> Result<Vec<String>, CertError> {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let mut changed = Vec::new();
    for mut vwc in api.list(&ListParams::default().labels(selector)).await?.items {
        let Some(name) = vwc.metadata.name.clone() else { continue };
        let mut dirty = false;
        for webhook in vwc.webhooks.iter_mut().flatten() {
            if webhook.client_config.ca_bundle.as_ref().map(|b| b.0.as_slice()) != Some(ca) {
                webhook.client_config.ca_bundle = Some(ByteString(ca.to_vec()));
                dirty = true;
            }
        }
        if dirty {
            // `replace` carries the resourceVersion read: a concurrent edit makes this pass fail and retry.
            api.replace(&name, &PostParams::default(), &vwc).await?;
            changed.push(name);
        }
    }
    Ok(changed)
}

/// Reconciles every `interval` (and after a failure, sooner) until `shutdown` completes; `ready` turns true
/// after the first pass that left a valid certificate injected.
pub async fn run(
    client: kube::Client,
    config: CertControllerConfig,
    interval: Duration,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let wait = match reconcile(&client, &config).await {
            Ok(outcome) => {
                ready.store(true, Ordering::Relaxed);
                if !outcome.injected.is_empty() {
                    tracing::info!(webhooks = ?outcome.injected, "CA bundle injected");
                }
                interval
            }
            Err(e) => {
                tracing::warn!(error = %e, "certificate reconcile failed; retrying");
                interval.min(Duration::from_secs(10))
            }
        };
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// `/healthz` (the process answers) and `/readyz` (a certificate is provisioned and injected).
pub fn health_router(ready: Arc<AtomicBool>) -> axum::Router {
    use axum::http::StatusCode;
    axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" })).route(
        "/readyz",
        axum::routing::get(move || {
            let ready = ready.load(Ordering::Relaxed);
            async move {
                if ready { (StatusCode::OK, "ok") } else { (StatusCode::SERVICE_UNAVAILABLE, "not provisioned yet") }
            }
        }),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn a_certificate_inside_the_lookahead_is_rotated_and_one_beyond_is_kept() {
        let hosts = CertControllerConfig::service_hosts("external-secrets-webhook", "eso");
        let bundle = CertBundle::generate(&hosts, 10 * DAY).unwrap();
        let now = SystemTime::now();
        assert_eq!(bundle.needs_rotation(now, 5 * DAY), None);
        assert!(bundle.needs_rotation(now, 11 * DAY).unwrap().contains("within the lookahead"));
        let broken = CertBundle { cert_pem: "garbage".into(), ..bundle };
        assert!(broken.needs_rotation(now, DAY).is_some());
    }

    #[test]
    fn previous_ca_is_re_encoded_identically_while_valid() {
        let bundle = CertBundle::generate(&["127.0.0.1".to_string()], DAY).unwrap();
        let now = SystemTime::now();
        assert_eq!(valid_cas(&bundle.ca_pem, now), [bundle.ca_pem.replace("\r\n", "\n")]);
        assert!(valid_cas(&bundle.ca_pem, now + 2 * DAY).is_empty(), "expired CAs are dropped");
    }
}
