//! Every conversion, decoding and null-byte strategy, end to end against the real apiserver: the keys and bytes
//! that land in the target Secret are exactly ESO's.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use common::{start_operator, wait_ready};
use external_secrets_api::{ExternalSecret, SecretStore};
use external_secrets_testsupport::cluster;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversion_decoding_and_null_byte_strategies_write_esos_keys_and_bytes() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("strategies").await.expect("ns");
    let op = start_operator(cluster, &ns).await;

    // "aGk/Pz8+" is base64 of "hi???>": '/' and '+' make it std-only; "aGk_Pz8-" is its URL-alphabet twin.
    let store: SecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "fake", "namespace": ns},
        "spec": {"controller": op.class, "provider": {"fake": {"data": [
            {"key": "doc", "value": json!({"a/b": "slash", "x y": "space"}).to_string()},
            {"key": "std", "value": "aGk/Pz8+"},
            {"key": "url", "value": "aGk_Pz8-"},
            {"key": "plain", "value": "not base64!"},
            {"key": "nul", "value": "YQBi"}
        ]}}}
    }))
    .expect("store");
    Api::<SecretStore>::namespaced(admin.clone(), &ns).create(&PostParams::default(), &store).await.expect("store");

    let es: ExternalSecret = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "strategies", "namespace": ns},
        "spec": {
            "secretStoreRef": {"name": "fake"},
            "target": {"name": "out"},
            "dataFrom": [
                {"extract": {"key": "doc"}},
                {"extract": {"key": "doc", "conversionStrategy": "Unicode"}}
            ],
            "data": [
                {"secretKey": "std-base64", "remoteRef": {"key": "std", "decodingStrategy": "Base64"}},
                {"secretKey": "url-base64url", "remoteRef": {"key": "url", "decodingStrategy": "Base64URL"}},
                {"secretKey": "std-auto", "remoteRef": {"key": "std", "decodingStrategy": "Auto"}},
                {"secretKey": "url-auto", "remoteRef": {"key": "url", "decodingStrategy": "Auto"}},
                {"secretKey": "plain-auto", "remoteRef": {"key": "plain", "decodingStrategy": "Auto"}},
                {"secretKey": "std-none", "remoteRef": {"key": "std", "decodingStrategy": "None"}},
                {"secretKey": "nul-ignored", "remoteRef": {"key": "nul", "decodingStrategy": "Base64"}}
            ]
        }
    }))
    .expect("es");
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    ess.create(&PostParams::default(), &es).await.expect("es");
    wait_ready(&ess, "strategies", "SecretSynced").await;

    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let data: BTreeMap<String, Vec<u8>> =
        secrets.get("out").await.expect("Secret").data.expect("data").into_iter().map(|(k, v)| (k, v.0)).collect();
    let expected: BTreeMap<String, Vec<u8>> = [
        // Default conversion: characters other than letters, digits, '-', '.', '_' become '_'. (Like ESO it keeps
        // non-ASCII letters, which the apiserver then refuses in a Secret key.)
        ("a_b", &b"slash"[..]),
        ("x_y", b"space"),
        // Unicode conversion: they become _U<hex code point>_.
        ("a_U002f_b", b"slash"),
        ("x_U0020_y", b"space"),
        ("std-base64", b"hi???>"),
        ("url-base64url", b"hi???>"),
        ("std-auto", b"hi???>"),
        ("url-auto", b"hi???>"),
        ("plain-auto", b"not base64!"),
        ("std-none", b"aGk/Pz8+"),
        ("nul-ignored", b"a\0b"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_vec()))
    .collect();
    assert_eq!(data, expected);

    // nullBytePolicy Fail refuses a value with a NUL byte, naming the key, and leaves the Secret untouched.
    let before = secrets.get("out").await.expect("Secret").metadata.resource_version;
    let patch = json!({"spec": {"data": [
        {"secretKey": "nul-failed", "remoteRef": {"key": "nul", "decodingStrategy": "Base64", "nullBytePolicy": "Fail"}}
    ]}});
    ess.patch("strategies", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch");
    let (_, _, message) = wait_ready(&ess, "strategies", "SecretSyncedError").await;
    assert!(message.contains("nul-failed") && message.contains("null bytes"), "{message}");
    assert_eq!(secrets.get("out").await.expect("Secret").metadata.resource_version, before);
    op.stop().await;
}

/// Values in templates are Go strings of bytes: a binary provider value, and what `b64dec` and `hexdec` make of
/// text, reach the Secret byte for byte (no U+FFFD), as in ESO.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_write_binary_values_byte_for_byte() {
    let cluster = cluster().await;
    let admin = cluster.admin_client().await.expect("admin");
    let ns = cluster.namespace("binary-template").await.expect("ns");
    let op = start_operator(cluster, &ns).await;
    // The bytes 00 ff 61 fe 80 0a: base64 "AP9h/oAK", hex "00ff61fe800a"; not UTF-8.
    let binary = vec![0x00, 0xff, b'a', 0xfe, 0x80, b'\n'];
    let store: SecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "fake", "namespace": ns},
        "spec": {"controller": op.class, "provider": {"fake": {"data": [
            {"key": "b64", "value": "AP9h/oAK"},
            {"key": "hex", "value": "00ff61fe800a"}
        ]}}}
    }))
    .expect("store");
    Api::<SecretStore>::namespaced(admin.clone(), &ns).create(&PostParams::default(), &store).await.expect("store");
    let es: ExternalSecret = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "binary", "namespace": ns},
        "spec": {
            "secretStoreRef": {"name": "fake"},
            "target": {"name": "binary-out", "template": {"data": {
                "from-provider": "{{ .bin }}",
                "from-b64dec": "{{ .b64 | b64dec }}",
                "from-hexdec": "{{ .hex | hexdec }}",
                "framed": "<{{ .bin }}>"
            }}},
            "data": [
                {"secretKey": "bin", "remoteRef": {"key": "b64", "decodingStrategy": "Base64"}},
                {"secretKey": "b64", "remoteRef": {"key": "b64"}},
                {"secretKey": "hex", "remoteRef": {"key": "hex"}}
            ]
        }
    }))
    .expect("es");
    let ess: Api<ExternalSecret> = Api::namespaced(admin.clone(), &ns);
    ess.create(&PostParams::default(), &es).await.expect("es");
    wait_ready(&ess, "binary", "SecretSynced").await;
    let secret = Api::<Secret>::namespaced(admin, &ns).get("binary-out").await.expect("Secret");
    let data: BTreeMap<String, Vec<u8>> = secret.data.expect("data").into_iter().map(|(k, v)| (k, v.0)).collect();
    let mut framed = vec![b'<'];
    framed.extend(&binary);
    framed.push(b'>');
    let expected = BTreeMap::from([
        ("framed".to_string(), framed),
        ("from-b64dec".to_string(), binary.clone()),
        ("from-hexdec".to_string(), binary.clone()),
        ("from-provider".to_string(), binary),
    ]);
    assert_eq!(data, expected);
    op.stop().await;
}
