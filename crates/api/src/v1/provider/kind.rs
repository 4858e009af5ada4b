//! Which provider a store names: every key ESO 2.9.0 knows under `spec.provider`, in one enum, and which of them
//! this operator implements.
//!
//! The matches over [`ProviderKind`] here are exhaustive on purpose: a provider added to the enum does not
//! compile until its key, whether it is implemented and where its spec lives are all written down.

use super::{
    AwsProvider, FakeProvider, GcpsmProvider, KubernetesProvider, SecretStoreProvider, VaultProvider, WebhookProvider,
};

/// A provider of ESO 2.9.0: one variant per key of `spec.provider` (ESO's `SecretStoreProvider`), in ESO's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProviderKind {
    /// `aws`: AWS Secrets Manager and Parameter Store.
    Aws,
    /// `azurekv`: Azure Key Vault.
    AzureKv,
    /// `akeyless`.
    Akeyless,
    /// `bitwardensecretsmanager`.
    BitwardenSecretsManager,
    /// `vault`: HashiCorp Vault.
    Vault,
    /// `ovh`: OVHcloud.
    Ovh,
    /// `gcpsm`: Google Cloud Secret Manager.
    Gcpsm,
    /// `oracle`: Oracle Cloud Infrastructure Vault.
    Oracle,
    /// `ibm`: IBM Cloud Secrets Manager.
    Ibm,
    /// `yandexcertificatemanager`.
    YandexCertificateManager,
    /// `yandexlockbox`.
    YandexLockbox,
    /// `github`.
    Github,
    /// `gitlab`.
    Gitlab,
    /// `onepassword`: 1Password Connect.
    OnePassword,
    /// `onepasswordSDK`: 1Password through its SDK.
    OnePasswordSdk,
    /// `webhook`: any HTTP API.
    Webhook,
    /// `kubernetes`: Secrets of a Kubernetes cluster.
    Kubernetes,
    /// `crd`: custom resources of this cluster.
    Crd,
    /// `fake`: static data in the store's spec.
    Fake,
    /// `senhasegura`.
    Senhasegura,
    /// `scaleway`.
    Scaleway,
    /// `doppler`.
    Doppler,
    /// `previder`.
    Previder,
    /// `onboardbase`.
    Onboardbase,
    /// `keepersecurity`.
    KeeperSecurity,
    /// `conjur`: CyberArk Conjur.
    Conjur,
    /// `delinea`: Delinea DevOps Secrets Vault.
    Delinea,
    /// `secretserver`: Delinea Secret Server.
    SecretServer,
    /// `chef`.
    Chef,
    /// `pulumi`: Pulumi ESC.
    Pulumi,
    /// `fortanix`.
    Fortanix,
    /// `passworddepot`.
    PasswordDepot,
    /// `passbolt`.
    Passbolt,
    /// `dvls`: Devolutions Server.
    Dvls,
    /// `infisical`.
    Infisical,
    /// `beyondtrust`: BeyondTrust Password Safe.
    Beyondtrust,
    /// `beyondtrustworkloadcredentials`.
    BeyondtrustWorkloadCredentials,
    /// `cloudrusm`: Cloud.ru Secret Manager.
    CloudruSm,
    /// `volcengine`.
    Volcengine,
    /// `ngrok`.
    Ngrok,
    /// `barbican`: OpenStack Barbican.
    Barbican,
    /// `nebiusmysterybox`.
    NebiusMysterybox,
    /// `openBao`.
    OpenBao,
}

impl ProviderKind {
    /// Every provider, in ESO's order.
    pub const ALL: [ProviderKind; 43] = [
        Self::Aws,
        Self::AzureKv,
        Self::Akeyless,
        Self::BitwardenSecretsManager,
        Self::Vault,
        Self::Ovh,
        Self::Gcpsm,
        Self::Oracle,
        Self::Ibm,
        Self::YandexCertificateManager,
        Self::YandexLockbox,
        Self::Github,
        Self::Gitlab,
        Self::OnePassword,
        Self::OnePasswordSdk,
        Self::Webhook,
        Self::Kubernetes,
        Self::Crd,
        Self::Fake,
        Self::Senhasegura,
        Self::Scaleway,
        Self::Doppler,
        Self::Previder,
        Self::Onboardbase,
        Self::KeeperSecurity,
        Self::Conjur,
        Self::Delinea,
        Self::SecretServer,
        Self::Chef,
        Self::Pulumi,
        Self::Fortanix,
        Self::PasswordDepot,
        Self::Passbolt,
        Self::Dvls,
        Self::Infisical,
        Self::Beyondtrust,
        Self::BeyondtrustWorkloadCredentials,
        Self::CloudruSm,
        Self::Volcengine,
        Self::Ngrok,
        Self::Barbican,
        Self::NebiusMysterybox,
        Self::OpenBao,
    ];

    /// The key under `spec.provider`, spelled as ESO spells it (`aws`, `onepasswordSDK`, `openBao`).
    pub const fn key(self) -> &'static str {
        match self {
            Self::Aws => "aws",
            Self::AzureKv => "azurekv",
            Self::Akeyless => "akeyless",
            Self::BitwardenSecretsManager => "bitwardensecretsmanager",
            Self::Vault => "vault",
            Self::Ovh => "ovh",
            Self::Gcpsm => "gcpsm",
            Self::Oracle => "oracle",
            Self::Ibm => "ibm",
            Self::YandexCertificateManager => "yandexcertificatemanager",
            Self::YandexLockbox => "yandexlockbox",
            Self::Github => "github",
            Self::Gitlab => "gitlab",
            Self::OnePassword => "onepassword",
            Self::OnePasswordSdk => "onepasswordSDK",
            Self::Webhook => "webhook",
            Self::Kubernetes => "kubernetes",
            Self::Crd => "crd",
            Self::Fake => "fake",
            Self::Senhasegura => "senhasegura",
            Self::Scaleway => "scaleway",
            Self::Doppler => "doppler",
            Self::Previder => "previder",
            Self::Onboardbase => "onboardbase",
            Self::KeeperSecurity => "keepersecurity",
            Self::Conjur => "conjur",
            Self::Delinea => "delinea",
            Self::SecretServer => "secretserver",
            Self::Chef => "chef",
            Self::Pulumi => "pulumi",
            Self::Fortanix => "fortanix",
            Self::PasswordDepot => "passworddepot",
            Self::Passbolt => "passbolt",
            Self::Dvls => "dvls",
            Self::Infisical => "infisical",
            Self::Beyondtrust => "beyondtrust",
            Self::BeyondtrustWorkloadCredentials => "beyondtrustworkloadcredentials",
            Self::CloudruSm => "cloudrusm",
            Self::Volcengine => "volcengine",
            Self::Ngrok => "ngrok",
            Self::Barbican => "barbican",
            Self::NebiusMysterybox => "nebiusmysterybox",
            Self::OpenBao => "openBao",
        }
    }

    /// The provider whose key is `key` (exactly as ESO spells it), if ESO knows one.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.key() == key)
    }

    /// Whether this operator implements the provider: its spec is typed here ([`TypedProviderSpec`]) and a
    /// provider crate serves it. Every other provider's spec is kept verbatim, and its stores are reported as
    /// not supported.
    pub const fn implemented(self) -> bool {
        match self {
            Self::Aws | Self::Vault | Self::Gcpsm | Self::Kubernetes | Self::Fake | Self::Webhook => true,
            Self::AzureKv
            | Self::Akeyless
            | Self::BitwardenSecretsManager
            | Self::Ovh
            | Self::Oracle
            | Self::Ibm
            | Self::YandexCertificateManager
            | Self::YandexLockbox
            | Self::Github
            | Self::Gitlab
            | Self::OnePassword
            | Self::OnePasswordSdk
            | Self::Crd
            | Self::Senhasegura
            | Self::Scaleway
            | Self::Doppler
            | Self::Previder
            | Self::Onboardbase
            | Self::KeeperSecurity
            | Self::Conjur
            | Self::Delinea
            | Self::SecretServer
            | Self::Chef
            | Self::Pulumi
            | Self::Fortanix
            | Self::PasswordDepot
            | Self::Passbolt
            | Self::Dvls
            | Self::Infisical
            | Self::Beyondtrust
            | Self::BeyondtrustWorkloadCredentials
            | Self::CloudruSm
            | Self::Volcengine
            | Self::Ngrok
            | Self::Barbican
            | Self::NebiusMysterybox
            | Self::OpenBao => false,
        }
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

/// Why `spec.provider` does not name exactly one provider.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProviderSelectionError {
    /// No key is set.
    #[error("spec.provider names no provider")]
    None,
    /// More than one key is set (their names, sorted).
    #[error("spec.provider must name exactly one provider, found {}", .0.join(", "))]
    Several(Vec<String>),
    /// The one key set is not a provider ESO 2.9 knows.
    #[error("provider {0:?} is not a provider ESO 2.9 knows")]
    Unknown(String),
}

impl SecretStoreProvider {
    /// Whether `spec.provider.<kind>` is set. A key whose value is `null` counts as not set.
    pub fn is_set(&self, kind: ProviderKind) -> bool {
        // Typed providers are read from their field, every other one from `other`; listing each kind keeps this
        // match in step with `ProviderKind::implemented` (a test checks that they agree).
        match kind {
            ProviderKind::Aws => self.aws.is_some(),
            ProviderKind::Vault => self.vault.is_some(),
            ProviderKind::Gcpsm => self.gcpsm.is_some(),
            ProviderKind::Kubernetes => self.kubernetes.is_some(),
            ProviderKind::Fake => self.fake.is_some(),
            ProviderKind::Webhook => self.webhook.is_some(),
            ProviderKind::AzureKv
            | ProviderKind::Akeyless
            | ProviderKind::BitwardenSecretsManager
            | ProviderKind::Ovh
            | ProviderKind::Oracle
            | ProviderKind::Ibm
            | ProviderKind::YandexCertificateManager
            | ProviderKind::YandexLockbox
            | ProviderKind::Github
            | ProviderKind::Gitlab
            | ProviderKind::OnePassword
            | ProviderKind::OnePasswordSdk
            | ProviderKind::Crd
            | ProviderKind::Senhasegura
            | ProviderKind::Scaleway
            | ProviderKind::Doppler
            | ProviderKind::Previder
            | ProviderKind::Onboardbase
            | ProviderKind::KeeperSecurity
            | ProviderKind::Conjur
            | ProviderKind::Delinea
            | ProviderKind::SecretServer
            | ProviderKind::Chef
            | ProviderKind::Pulumi
            | ProviderKind::Fortanix
            | ProviderKind::PasswordDepot
            | ProviderKind::Passbolt
            | ProviderKind::Dvls
            | ProviderKind::Infisical
            | ProviderKind::Beyondtrust
            | ProviderKind::BeyondtrustWorkloadCredentials
            | ProviderKind::CloudruSm
            | ProviderKind::Volcengine
            | ProviderKind::Ngrok
            | ProviderKind::Barbican
            | ProviderKind::NebiusMysterybox
            | ProviderKind::OpenBao => self.other.get(kind.key()).is_some_and(|value| !value.is_null()),
        }
    }

    /// The keys set under `spec.provider` (known providers and unknown keys alike), sorted. A valid store has
    /// exactly one. A key whose value is `null` counts as not set.
    pub fn configured_names(&self) -> Vec<String> {
        let known = ProviderKind::ALL.into_iter().filter(|kind| self.is_set(*kind)).map(|kind| kind.key().to_string());
        let unknown = self
            .other
            .iter()
            .filter(|(key, value)| !value.is_null() && ProviderKind::from_key(key).is_none())
            .map(|(key, _)| key.clone());
        let mut names: Vec<String> = known.chain(unknown).collect();
        names.sort();
        names.dedup();
        names
    }

    /// The one provider this store names.
    pub fn kind(&self) -> Result<ProviderKind, ProviderSelectionError> {
        let names = self.configured_names();
        match names.as_slice() {
            [] => Err(ProviderSelectionError::None),
            [name] => ProviderKind::from_key(name).ok_or_else(|| ProviderSelectionError::Unknown(name.clone())),
            _ => Err(ProviderSelectionError::Several(names)),
        }
    }
}

/// The typed spec (`spec.provider.<key>`) of a provider this operator implements: what a provider crate is
/// handed, extracted once from the store by the provider contract.
pub trait TypedProviderSpec: Send + Sync + 'static {
    /// The provider this is the spec of.
    const KIND: ProviderKind;

    /// This provider's spec in `provider`, if it is set there.
    fn from_provider(provider: &SecretStoreProvider) -> Option<&Self>;
}

impl TypedProviderSpec for AwsProvider {
    const KIND: ProviderKind = ProviderKind::Aws;
    fn from_provider(provider: &SecretStoreProvider) -> Option<&Self> {
        provider.aws.as_ref()
    }
}

impl TypedProviderSpec for VaultProvider {
    const KIND: ProviderKind = ProviderKind::Vault;
    fn from_provider(provider: &SecretStoreProvider) -> Option<&Self> {
        provider.vault.as_ref()
    }
}

impl TypedProviderSpec for GcpsmProvider {
    const KIND: ProviderKind = ProviderKind::Gcpsm;
    fn from_provider(provider: &SecretStoreProvider) -> Option<&Self> {
        provider.gcpsm.as_ref()
    }
}

impl TypedProviderSpec for KubernetesProvider {
    const KIND: ProviderKind = ProviderKind::Kubernetes;
    fn from_provider(provider: &SecretStoreProvider) -> Option<&Self> {
        provider.kubernetes.as_ref()
    }
}

impl TypedProviderSpec for WebhookProvider {
    const KIND: ProviderKind = ProviderKind::Webhook;
    fn from_provider(provider: &SecretStoreProvider) -> Option<&Self> {
        provider.webhook.as_ref()
    }
}

impl TypedProviderSpec for FakeProvider {
    const KIND: ProviderKind = ProviderKind::Fake;
    fn from_provider(provider: &SecretStoreProvider) -> Option<&Self> {
        provider.fake.as_ref()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// The keys of ESO 2.9.0's `SecretStoreProvider`, in its order (apis/externalsecrets/v1/secretstore_types.go).
    const ESO_KEYS: [&str; 43] = [
        "aws",
        "azurekv",
        "akeyless",
        "bitwardensecretsmanager",
        "vault",
        "ovh",
        "gcpsm",
        "oracle",
        "ibm",
        "yandexcertificatemanager",
        "yandexlockbox",
        "github",
        "gitlab",
        "onepassword",
        "onepasswordSDK",
        "webhook",
        "kubernetes",
        "crd",
        "fake",
        "senhasegura",
        "scaleway",
        "doppler",
        "previder",
        "onboardbase",
        "keepersecurity",
        "conjur",
        "delinea",
        "secretserver",
        "chef",
        "pulumi",
        "fortanix",
        "passworddepot",
        "passbolt",
        "dvls",
        "infisical",
        "beyondtrust",
        "beyondtrustworkloadcredentials",
        "cloudrusm",
        "volcengine",
        "ngrok",
        "barbican",
        "nebiusmysterybox",
        "openBao",
    ];

    #[test]
    fn every_eso_provider_is_listed_once_in_esos_order() {
        let keys: Vec<&str> = ProviderKind::ALL.iter().map(|kind| kind.key()).collect();
        assert_eq!(keys, ESO_KEYS);
        for (position, kind) in ProviderKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, position, "{kind} is listed out of order");
            assert_eq!(ProviderKind::from_key(kind.key()), Some(kind));
        }
        assert_eq!(ProviderKind::from_key("Vault"), None, "keys are case-sensitive, as in ESO");
    }

    /// A typed provider takes its key out of `other`; an untyped one is kept there verbatim. Implemented
    /// providers, and only they, must be typed, or `is_set` would look for them in the wrong place.
    #[test]
    fn exactly_the_implemented_providers_are_typed() {
        for kind in ProviderKind::ALL {
            let provider: Result<SecretStoreProvider, _> =
                serde_json::from_value(serde_json::json!({ kind.key(): {} }));
            // A typed spec may refuse `{}` (required fields); `other` never does.
            let typed = provider.as_ref().map_or(true, |p| p.other.is_empty());
            assert_eq!(typed, kind.implemented(), "{kind}: typed and implemented must agree");
            if let Ok(provider) = provider {
                assert!(provider.is_set(kind), "{kind} is set");
                assert_eq!(provider.kind(), Ok(kind));
            }
        }
    }

    #[test]
    fn a_store_names_exactly_one_known_provider() {
        let provider = |value: serde_json::Value| serde_json::from_value::<SecretStoreProvider>(value).unwrap();
        assert_eq!(provider(serde_json::json!({})).kind(), Err(ProviderSelectionError::None));
        assert_eq!(provider(serde_json::json!({"gitlab": null})).kind(), Err(ProviderSelectionError::None));
        assert_eq!(
            provider(serde_json::json!({"fake": {"data": []}, "gitlab": {}})).kind(),
            Err(ProviderSelectionError::Several(vec!["fake".into(), "gitlab".into()]))
        );
        let unknown = provider(serde_json::json!({"vualt": {}})).kind();
        assert_eq!(unknown, Err(ProviderSelectionError::Unknown("vualt".into())));
        assert_eq!(
            unknown.err().map(|e| e.to_string()).as_deref(),
            Some("provider \"vualt\" is not a provider ESO 2.9 knows")
        );
        assert_eq!(provider(serde_json::json!({"fake": {"data": []}})).kind(), Ok(ProviderKind::Fake));
    }

    #[test]
    fn typed_specs_are_found_in_their_field() {
        let provider: SecretStoreProvider =
            serde_json::from_value(serde_json::json!({"fake": {"data": [{"key": "k", "value": "v"}]}})).unwrap();
        assert_eq!(FakeProvider::from_provider(&provider).map(|f| f.data.len()), Some(1));
        assert!(AwsProvider::from_provider(&provider).is_none());
        assert!(KubernetesProvider::from_provider(&provider).is_none());
        assert_eq!(<FakeProvider as TypedProviderSpec>::KIND, ProviderKind::Fake);
    }
}
