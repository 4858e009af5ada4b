//! Schema adjustments that make the derived OpenAPI schemas match ESO's CRDs.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceSubresourceStatus, JSONSchemaProps, JSONSchemaPropsOrArray,
    JSONSchemaPropsOrBool,
};
use schemars::{Schema, SchemaGenerator, json_schema};

/// `spec.provider`: a union of one provider key, where keys we do not model must survive the API server.
///
/// The flattened `other` map makes schemars emit `additionalProperties`, which a structural schema may not
/// combine with `properties`; `x-kubernetes-preserve-unknown-fields` keeps the unknown keys instead.
pub(crate) fn provider_union(schema: &mut Schema) {
    schema.remove("additionalProperties");
    schema.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
    schema.insert("minProperties".into(), 1.into());
    schema.insert("maxProperties".into(), 1.into());
}

/// `status.binding`: a core `LocalObjectReference` as controller-gen renders it (name defaults to "").
pub(crate) fn local_object_reference(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Binding represents a servicebinding.io Provisioned Service reference to the secret",
        "type": "object",
        "properties": {
            "name": {
                "description": "Name of the referent. This field is effectively required, but due to backwards \
                    compatibility is allowed to be empty.",
                "type": "string",
                "default": "",
            },
        },
        "x-kubernetes-map-type": "atomic",
    })
}

/// A `[]byte` field: base64 text in JSON (`k8s_openapi::ByteString` has no `JsonSchema`).
pub(crate) fn byte_string(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "format": "byte" })
}

/// An object whose fields are kept as they are (a nested spec this crate does not model yet).
pub(crate) fn open_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true })
}

/// Any JSON value (Go's `apiextensionsv1.JSON`), kept as it is.
pub(crate) fn any_json(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// Sets whether the CRD's versions have the status subresource. ESO declares it on every generator although
/// they have no status field, and not on `GeneratorState` although it has one; the derive ties it to a status
/// type.
pub(crate) fn set_status_subresource(mut crd: CustomResourceDefinition, enabled: bool) -> CustomResourceDefinition {
    for version in &mut crd.spec.versions {
        let subresources = version.subresources.get_or_insert_with(Default::default);
        subresources.status = enabled.then(|| CustomResourceSubresourceStatus(serde_json::json!({})));
    }
    crd
}

/// Brings a derived CRD in line with ESO's: `listKind` set, no root `title`, and no `nullable` anywhere except
/// `status.refreshTime`.
///
/// kube marks every `Option` field `nullable`. controller-gen does not, and that matters: the API server
/// *prunes* an explicit `null` in a non-nullable field (and then applies the field's default), while it keeps the
/// `null` of a nullable field. Manifests rendered by Helm often carry such nulls.
pub(crate) fn finalize(crd: &mut CustomResourceDefinition) {
    let names = &mut crd.spec.names;
    names.list_kind = Some(format!("{}List", names.kind));
    for version in &mut crd.spec.versions {
        let Some(schema) = version.schema.as_mut().and_then(|s| s.open_api_v3_schema.as_mut()) else {
            continue;
        };
        schema.title = None;
        strip_nullable(schema);
        let refresh_time = schema
            .properties
            .as_mut()
            .and_then(|p| p.get_mut("status"))
            .and_then(|status| status.properties.as_mut())
            .and_then(|p| p.get_mut("refreshTime"));
        if let Some(refresh_time) = refresh_time {
            refresh_time.nullable = Some(true);
        }
    }
}

fn strip_nullable(schema: &mut JSONSchemaProps) {
    schema.nullable = None;
    let maps = [schema.properties.as_mut(), schema.pattern_properties.as_mut(), schema.definitions.as_mut()];
    for map in maps.into_iter().flatten() {
        map.values_mut().for_each(strip_nullable);
    }
    let lists = [schema.all_of.as_mut(), schema.any_of.as_mut(), schema.one_of.as_mut()];
    for list in lists.into_iter().flatten() {
        list.iter_mut().for_each(strip_nullable);
    }
    if let Some(not) = schema.not.as_deref_mut() {
        strip_nullable(not);
    }
    match schema.items.as_mut() {
        Some(JSONSchemaPropsOrArray::Schema(item)) => strip_nullable(item),
        Some(JSONSchemaPropsOrArray::Schemas(items)) => items.iter_mut().for_each(strip_nullable),
        None => {}
    }
    for nested in [schema.additional_properties.as_mut(), schema.additional_items.as_mut()].into_iter().flatten() {
        if let JSONSchemaPropsOrBool::Schema(nested) = nested {
            strip_nullable(nested);
        }
    }
}

/// Drops the `default` schemars derives from `#[serde(default)]`, for fields Go writes as non-pointer structs
/// (`json:",omitempty"`), whose CRD schema has no default.
pub(crate) fn no_default(schema: &mut Schema) {
    schema.remove("default");
}
