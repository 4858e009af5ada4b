//! Admission for `external-secrets.io`: the validating webhook (ESO's rules that need code, served over HTTPS
//! at ESO's paths with a certificate reloaded from files when they change) and the certificate controller
//! that provisions that certificate and injects its CA bundle.
//!
//! - [`validate`]: the rules, pure functions over the typed specs.
//! - [`server`]: the HTTPS admission endpoints and the health endpoints.
//! - [`tls`]: the hot-reloaded serving certificate.
//! - [`certcontroller`]: CA + serving certificate in a Secret, CA bundle injection, rotation.

pub mod certcontroller;
pub mod server;
pub mod tls;
pub mod validate;

pub use server::{Limits, WebhookConfig, WebhookError, router, run, serve_tls, serve_tls_with};
