//! ESO's AWS generators: `ECRAuthorizationToken` (ECR `GetAuthorizationToken`) and `STSSessionToken` (STS
//! `GetSessionToken`), authenticated like this provider's stores and sharing its credential caches.
//!
//! As ESO v2.9.0 (`generators/v1/ecr`, `generators/v1/sts`, `providers/v1/aws/auth.NewGeneratorSession`): the
//! identity is `auth.secretRef` (static keys), `auth.jwt` (IRSA; not for STS, whose GetSessionToken needs an IAM
//! user's keys) or the SDK default chain, then `role` assumed on top; references are read in the ExternalSecret's
//! namespace, for a ClusterGenerator too. Output keys and formats are ESO's: ECR `username`, `password`,
//! `proxy_endpoint`, `expires_at`; STS `access_key_id`, `secret_access_key`, `session_token`, `expiration`; the
//! times as Unix seconds. ECR `scope: public` (ECR Public) is refused as unsupported: no local endpoint serves it,
//! so it could not be tested.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_credential_types::provider::SharedCredentialsProvider;
use base64::Engine;
use external_secrets_api::AwsAuth;
use external_secrets_api::generators::v1alpha1::{
    EcrAuthorizationTokenSpec, GeneratorKind, GeneratorSpec, StsSessionTokenSpec,
};
use external_secrets_generators::{CredentialedGenerator, Generated, GeneratorError, SecretBytes, spec_of};
use external_secrets_provider::{CredentialResolver, ProviderError};

use crate::clients::Shared;
use crate::config::{Auth, RoleStep, validate_region};
use crate::credentials::{self, IdentityKey, IdentityProvider};
use crate::error::sdk_error;

const ECR: &str = "ECRAuthorizationToken";
const STS: &str = "STSSessionToken";

/// The AWS generators; get one from [`crate::AwsProvider::generators`] and register it in `main`.
#[derive(Clone)]
pub struct AwsGenerators {
    shared: Arc<Shared>,
}

impl AwsGenerators {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The credentials of `auth` in `region`, with `role` assumed on top (cached as a store's identity).
    async fn credentials(
        &self,
        region: &str,
        auth: Option<&AwsAuth>,
        role: Option<&str>,
        resolver: &CredentialResolver,
    ) -> Result<SharedCredentialsProvider, ProviderError> {
        validate_region(region)?;
        let auth = Auth::from_spec(auth);
        if let Auth::SecretRef { access_key_id, secret_access_key, .. } = &auth
            && (access_key_id.name.is_empty() || secret_access_key.name.is_empty())
        {
            return Err(ProviderError::InvalidConfig(
                "auth.secretRef needs accessKeyIDSecretRef and secretAccessKeySecretRef".to_string(),
            ));
        }
        let base = credentials::resolve_base(&auth, resolver).await?;
        let chain = role
            .filter(|r| !r.is_empty())
            .map(|role_arn| {
                vec![RoleStep {
                    role_arn: role_arn.to_string(),
                    external_id: None,
                    session_tags: Vec::new(),
                    transitive_tag_keys: Vec::new(),
                }]
            })
            .unwrap_or_default();
        let key = IdentityKey {
            base: base.key(),
            region: region.to_string(),
            sts_endpoint: self.shared.endpoints.sts.clone(),
            chain,
        };
        let identity = self.shared.identity(&key, base, resolver).await;
        Ok(SharedCredentialsProvider::new(IdentityProvider(identity)))
    }

    async fn ecr(
        &self,
        spec: &EcrAuthorizationTokenSpec,
        resolver: &CredentialResolver,
    ) -> Result<Generated, ProviderError> {
        if spec.scope.as_deref() == Some("public") {
            return Err(ProviderError::Unsupported(
                "scope \"public\" (ECR Public) is not supported by this operator; leave scope unset for a private \
                 registry"
                    .to_string(),
            ));
        }
        let credentials = self.credentials(&spec.region, spec.auth.as_ref(), spec.role.as_deref(), resolver).await?;
        let client = self.shared.ecr_client(&spec.region, credentials);
        let out = client
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| sdk_error("GetAuthorizationToken", &spec.region, &e))?;
        let [data] = out.authorization_data() else {
            return Err(malformed(format!(
                "expected one authorization token, found {}",
                out.authorization_data().len()
            )));
        };
        let token = data.authorization_token().ok_or_else(|| malformed("no authorization token".into()))?;
        let expires_at = data.expires_at().ok_or_else(|| malformed("no expiry".into()))?;
        let proxy_endpoint = data.proxy_endpoint().ok_or_else(|| malformed("no proxy endpoint".into()))?;
        let (username, password) = split_token(token)?;
        Ok(BTreeMap::from([
            ("username".to_string(), SecretBytes::from(username)),
            ("password".to_string(), SecretBytes::from(password)),
            ("proxy_endpoint".to_string(), SecretBytes::from(proxy_endpoint.to_string())),
            ("expires_at".to_string(), SecretBytes::from(expires_at.secs().to_string())),
        ]))
    }

    async fn sts(&self, spec: &StsSessionTokenSpec, resolver: &CredentialResolver) -> Result<Generated, ProviderError> {
        if spec.auth.as_ref().is_some_and(|a| a.jwt.is_some() && a.secret_ref.is_none()) {
            return Err(ProviderError::InvalidConfig(
                "auth.jwt cannot be used for STSSessionToken: GetSessionToken needs an IAM user's keys (auth.secretRef)"
                    .to_string(),
            ));
        }
        let credentials = self.credentials(&spec.region, spec.auth.as_ref(), spec.role.as_deref(), resolver).await?;
        let client = self.shared.sts_client(&spec.region, Some(credentials));
        let params = spec.request_parameters.clone().unwrap_or_default();
        let out = client
            .get_session_token()
            .set_duration_seconds(params.session_duration)
            .set_serial_number(params.serial_number)
            .set_token_code(params.token_code)
            .send()
            .await
            .map_err(|e| sdk_error("GetSessionToken", &spec.region, &e))?;
        let c = out.credentials().ok_or_else(|| malformed("no credentials returned".into()))?;
        Ok(BTreeMap::from([
            ("access_key_id".to_string(), SecretBytes::from(c.access_key_id().to_string())),
            ("secret_access_key".to_string(), SecretBytes::from(c.secret_access_key().to_string())),
            ("session_token".to_string(), SecretBytes::from(c.session_token().to_string())),
            ("expiration".to_string(), SecretBytes::from(c.expiration().secs().to_string())),
        ]))
    }
}

fn malformed(what: String) -> ProviderError {
    ProviderError::Malformed(format!("GetAuthorizationToken answered without what it must hold: {what}"))
}

/// ECR's token is base64 of `username:password`. Errors never quote it.
fn split_token(token: &str) -> Result<(String, String), ProviderError> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| malformed("the authorization token is not base64".into()))?;
    let text = String::from_utf8(decoded).map_err(|_| malformed("the authorization token is not UTF-8".into()))?;
    let parts: Vec<&str> = text.split(':').collect();
    match parts.as_slice() {
        [username, password] => Ok((username.to_string(), password.to_string())),
        _ => Err(malformed("the authorization token is not username:password".into())),
    }
}

#[async_trait]
impl CredentialedGenerator for AwsGenerators {
    fn kinds(&self) -> Vec<GeneratorKind> {
        vec![GeneratorKind::EcrAuthorizationToken, GeneratorKind::StsSessionToken]
    }

    async fn generate(
        &self,
        kind: GeneratorKind,
        spec: &GeneratorSpec,
        credentials: &CredentialResolver,
    ) -> Result<Generated, GeneratorError> {
        match kind {
            GeneratorKind::EcrAuthorizationToken => {
                let spec = spec_of(ECR, spec.ecr_authorization_token_spec.as_ref())?;
                self.ecr(spec, credentials).await.map_err(|source| GeneratorError::Provider { kind: ECR, source })
            }
            GeneratorKind::StsSessionToken => {
                let spec = spec_of(STS, spec.sts_session_token_spec.as_ref())?;
                self.sts(spec, credentials).await.map_err(|source| GeneratorError::Provider { kind: STS, source })
            }
            other => Err(GeneratorError::Unsupported(external_secrets_generators::kind_name(other))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use external_secrets_provider::ErrorCategory;

    fn encode(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn the_token_is_split_into_username_and_password() {
        let (user, password) = split_token(&encode("AWS:pass-word")).expect("token");
        assert_eq!((user.as_str(), password.as_str()), ("AWS", "pass-word"));
    }

    #[test]
    fn a_token_that_is_not_username_password_is_malformed_and_not_quoted() {
        for token in [encode("AWS:a:b"), encode("no-colon"), "%%%".to_string()] {
            let err = split_token(&token).expect_err("malformed");
            assert_eq!(err.category(), ErrorCategory::Malformed);
            assert!(!err.to_string().contains("no-colon") && !err.to_string().contains("AWS:"), "{err}");
        }
    }
}
