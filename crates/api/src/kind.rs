//! Kinds that reuse another kind's spec and status types: `ClusterSecretStore` (the `SecretStore` spec, cluster
//! scoped) and the three v1beta1 kinds (the v1 schema under another version name).
//!
//! `#[derive(CustomResource)]` makes one kind per spec struct, so these kinds are declared with
//! [`shared_spec_kind!`], which writes what the derive would (root struct, `Resource`, `HasSpec`, `HasStatus`,
//! `CustomResourceExt`), and derive their CRD from the derived kind's CRD so the schema exists once.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// Declares a root type for an existing spec/status pair. See the module docs.
macro_rules! shared_spec_kind {
    (
        $(#[$doc:meta])*
        pub struct $root:ident {
            spec: $spec:ty,
            status: $status:ty $(,)?
        }
        version = $version:literal,
        kind = $kind:literal,
        plural = $plural:literal,
        shortname = $shortname:literal,
        scope = $scope:ty,
        crd = $crd:expr $(,)?
    ) => {
        $(#[$doc])*
        #[derive(::serde::Deserialize, Clone, Debug, PartialEq)]
        #[serde(rename_all = "camelCase")]
        pub struct $root {
            /// Standard object metadata.
            pub metadata: ::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
            /// The desired state.
            pub spec: $spec,
            /// The observed state, as written by the controller.
            #[serde(default)]
            pub status: Option<$status>,
        }

        impl $root {
            /// A new object with this name and spec, without status.
            pub fn new(name: &str, spec: $spec) -> Self {
                Self {
                    metadata: ::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                        name: Some(name.to_string()),
                        ..Default::default()
                    },
                    spec,
                    status: None,
                }
            }
        }

        impl ::serde::Serialize for $root {
            fn serialize<S: ::serde::Serializer>(&self, ser: S) -> ::std::result::Result<S::Ok, S::Error> {
                use ::serde::ser::SerializeStruct;
                let fields = 4 + usize::from(self.status.is_some());
                let mut obj = ser.serialize_struct(stringify!($root), fields)?;
                obj.serialize_field("apiVersion", &<$root as ::kube::core::Resource>::api_version(&()))?;
                obj.serialize_field("kind", $kind)?;
                obj.serialize_field("metadata", &self.metadata)?;
                obj.serialize_field("spec", &self.spec)?;
                if let Some(status) = &self.status {
                    obj.serialize_field("status", status)?;
                }
                obj.end()
            }
        }

        impl ::kube::core::Resource for $root {
            type DynamicType = ();
            type Scope = $scope;

            fn kind(_: &()) -> ::std::borrow::Cow<'_, str> {
                $kind.into()
            }

            fn group(_: &()) -> ::std::borrow::Cow<'_, str> {
                $crate::GROUP.into()
            }

            fn version(_: &()) -> ::std::borrow::Cow<'_, str> {
                $version.into()
            }

            fn api_version(_: &()) -> ::std::borrow::Cow<'_, str> {
                concat!("external-secrets.io/", $version).into()
            }

            fn plural(_: &()) -> ::std::borrow::Cow<'_, str> {
                $plural.into()
            }

            fn meta(&self) -> &::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &self.metadata
            }

            fn meta_mut(&mut self) -> &mut ::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &mut self.metadata
            }
        }

        impl ::kube::core::object::HasSpec for $root {
            type Spec = $spec;

            fn spec(&self) -> &$spec {
                &self.spec
            }

            fn spec_mut(&mut self) -> &mut $spec {
                &mut self.spec
            }
        }

        impl ::kube::core::object::HasStatus for $root {
            type Status = $status;

            fn status(&self) -> Option<&$status> {
                self.status.as_ref()
            }

            fn status_mut(&mut self) -> &mut Option<$status> {
                &mut self.status
            }
        }

        impl ::kube::core::CustomResourceExt for $root {
            fn crd() -> ::k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
                $crd
            }

            fn crd_name() -> &'static str {
                concat!($plural, ".external-secrets.io")
            }

            fn api_resource() -> ::kube::core::ApiResource {
                ::kube::core::ApiResource::erase::<Self>(&())
            }

            fn shortnames() -> &'static [&'static str] {
                &[$shortname]
            }
        }
    };
}

pub(crate) use shared_spec_kind;

/// The names and scope of a kind, as they appear in its CRD.
pub(crate) struct KindNames {
    pub kind: &'static str,
    pub plural: &'static str,
    pub shortname: &'static str,
    /// `Namespaced` or `Cluster`.
    pub scope: &'static str,
    /// The description of the root schema.
    pub description: &'static str,
}

/// `base` (one kind's CRD) relabelled as another kind with the same schema.
pub(crate) fn relabel(mut base: CustomResourceDefinition, names: &KindNames) -> CustomResourceDefinition {
    let group = base.spec.group.clone();
    base.metadata.name = Some(format!("{}.{group}", names.plural));
    base.spec.names.kind = names.kind.to_string();
    base.spec.names.plural = names.plural.to_string();
    base.spec.names.singular = Some(names.kind.to_ascii_lowercase());
    base.spec.names.short_names = Some(vec![names.shortname.to_string()]);
    base.spec.scope = names.scope.to_string();
    for version in &mut base.spec.versions {
        if let Some(schema) = version.schema.as_mut().and_then(|s| s.open_api_v3_schema.as_mut()) {
            schema.description = Some(names.description.to_string());
        }
    }
    base
}

/// `base` (a v1 CRD) as the served, non-storage, deprecated `version` with the same schema.
///
/// v1beta1 and v1 are structurally compatible (v1 only adds fields and enum values), so there is no
/// conversion webhook: the API server only rewrites `apiVersion` (conversion strategy `None`).
pub(crate) fn as_version(mut base: CustomResourceDefinition, version: &str) -> CustomResourceDefinition {
    let group = base.spec.group.clone();
    let kind = base.spec.names.kind.clone();
    for crd_version in &mut base.spec.versions {
        crd_version.name = version.to_string();
        crd_version.served = true;
        crd_version.storage = false;
        crd_version.deprecated = Some(true);
        crd_version.deprecation_warning =
            Some(format!("{group}/{version} {kind} is deprecated; use {group}/v1 {kind}"));
    }
    base
}

/// One CRD with the versions of `storage` (marked as the storage version) followed by those of `served`.
///
/// Equivalent to `kube::core::crd::merge_crds(vec![storage, served], <storage version>)`, which is fallible
/// only for inputs this crate never builds (mismatched group, kind or scope).
pub(crate) fn merge(
    mut storage: CustomResourceDefinition,
    served: CustomResourceDefinition,
) -> CustomResourceDefinition {
    for version in &mut storage.spec.versions {
        version.storage = true;
    }
    storage.spec.versions.extend(served.spec.versions.into_iter().map(|mut version| {
        version.storage = false;
        version
    }));
    storage
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use kube::core::CustomResourceExt;

    use crate::{v1, v1beta1};

    #[test]
    fn merge_equals_kube_merge_crds() {
        let ours = super::merge(v1::ExternalSecret::crd(), v1beta1::ExternalSecret::crd());
        let kubes =
            kube::core::crd::merge_crds(vec![v1::ExternalSecret::crd(), v1beta1::ExternalSecret::crd()], "v1").unwrap();
        assert_eq!(ours, kubes);
    }

    #[test]
    fn cluster_secret_store_is_the_secret_store_schema_cluster_scoped() {
        let store = v1::SecretStore::crd();
        let cluster = v1::ClusterSecretStore::crd();
        assert_eq!(cluster.metadata.name.as_deref(), Some("clustersecretstores.external-secrets.io"));
        assert_eq!(cluster.spec.scope, "Cluster");
        assert_eq!(cluster.spec.names.singular.as_deref(), Some("clustersecretstore"));
        let spec =
            |crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition| {
                crd.spec.versions[0].schema.as_ref().unwrap().open_api_v3_schema.as_ref().unwrap().properties.clone()
            };
        assert_eq!(spec(&store), spec(&cluster));
    }
}
