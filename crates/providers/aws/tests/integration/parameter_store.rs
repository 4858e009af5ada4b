//! Parameter Store reads against the local endpoint.

use std::collections::BTreeMap;

use aws_sdk_ssm::types::{ParameterType, Tag};
use external_secrets_provider::{FindQuery, MetadataPolicy, RemoteKey, RemoteValue};

use crate::common::{TestEnv, count, isolated_endpoint, text};

async fn put(ssm: &aws_sdk_ssm::Client, name: &str, value: &str, kind: ParameterType) {
    ssm.put_parameter().name(name).value(value).r#type(kind).overwrite(true).send().await.expect("PutParameter");
}

#[tokio::test]
async fn secure_strings_are_read_decrypted_with_versions() {
    let env = TestEnv::new("params-read").await;
    let ssm = env.ssm_admin();
    let name = format!("/{}/db/password", env.ns);
    put(&ssm, &name, "first", ParameterType::SecureString).await;
    put(&ssm, &name, "second", ParameterType::SecureString).await;
    let plain = format!("/{}/db/host", env.ns);
    put(&ssm, &plain, "db.internal", ParameterType::String).await;

    let provider = env.provider();
    let client = env.static_client(&provider, "ParameterStore").await;
    assert_eq!(text(&client.get(&RemoteKey::value(&name)).await), "second", "decrypted, current version");
    let v1 = RemoteKey { key: name.clone(), version: Some("1".into()), metadata_policy: MetadataPolicy::None };
    assert_eq!(text(&client.get(&v1).await), "first");
    assert_eq!(text(&client.get(&RemoteKey::value(&plain)).await), "db.internal");

    let missing = format!("/{}/db/missing", env.ns);
    let err = client.get(&RemoteKey::value(&missing)).await.expect_err("missing");
    assert!(err.is_not_found(), "{err}");

    // Batched: versions use the `name:version` selector; both versions of one parameter come back right.
    let many = client
        .get_many(&[v1.clone(), RemoteKey::value(&name), RemoteKey::value(&missing), RemoteKey::value(&plain)])
        .await;
    assert_eq!(text(&many[0]), "first");
    assert_eq!(text(&many[1]), "second");
    assert!(many[2].as_ref().is_err_and(|e| e.is_not_found()), "{:?}", many[2]);
    assert_eq!(text(&many[3]), "db.internal");
}

#[tokio::test]
async fn get_parameters_batches_ten_names_per_call() {
    let endpoint = isolated_endpoint().await;
    let env = TestEnv::with_endpoint("params-batch", &endpoint.url, endpoint.port).await;
    let ssm = env.ssm_admin();
    let names: Vec<String> = (0..12).map(|i| format!("/{}/batch/p{i:02}", env.ns)).collect();
    for (i, name) in names.iter().enumerate() {
        put(&ssm, name, &format!("value-{i}"), ParameterType::SecureString).await;
    }
    let missing = format!("/{}/batch/missing", env.ns);
    let provider = env.provider();
    let client = env.static_client(&provider, "ParameterStore").await;
    let mut keys: Vec<RemoteKey> = names.iter().map(RemoteKey::value).collect();
    keys.insert(5, RemoteKey::value(&missing));
    keys.push(RemoteKey::value(&names[0]));

    let before = env.counters();
    let results = client.get_many(&keys).await;
    let after = env.counters();

    assert_eq!(results.len(), 14);
    for (key, result) in keys.iter().zip(&results) {
        if key.key == missing {
            assert!(result.as_ref().is_err_and(|e| e.is_not_found()), "{result:?}");
        } else {
            let i: usize = key.key.rsplit('p').next().and_then(|n| n.parse().ok()).expect("index");
            assert_eq!(text(result), format!("value-{i}"));
        }
    }
    let calls = |op: &str| count(&after, op) - count(&before, op);
    assert_eq!(calls("ssm.GetParameters"), 2, "13 distinct names = 10 + 3");
    assert_eq!(calls("ssm.GetParameter"), 0);
}

#[tokio::test]
async fn find_reads_a_path_recursively_and_by_tags() {
    let env = TestEnv::new("params-find").await;
    let ssm = env.ssm_admin();
    let ns = &env.ns;
    for (name, value) in [("app/a", "1"), ("app/nested/b", "2"), ("app/nested/deeper/c", "3"), ("other/d", "4")] {
        put(&ssm, &format!("/{ns}/{name}"), value, ParameterType::SecureString).await;
    }
    for name in ["app/a", "other/d"] {
        ssm.add_tags_to_resource()
            .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
            .resource_id(format!("/{ns}/{name}"))
            .tags(Tag::builder().key("find-test").value(ns.as_str()).build().expect("tag"))
            .send()
            .await
            .expect("AddTagsToResource");
    }
    let provider = env.provider();
    let client = env.static_client(&provider, "ParameterStore").await;
    let names = |found: &BTreeMap<String, RemoteValue>| found.keys().cloned().collect::<Vec<_>>();

    let everything = Some(".*".to_string());
    let recursive = client
        .find(&FindQuery { path: Some(format!("/{ns}/app")), name_regexp: everything.clone(), ..Default::default() })
        .await;
    let recursive = recursive.expect("find by path");
    assert_eq!(
        names(&recursive),
        [format!("/{ns}/app/a"), format!("/{ns}/app/nested/b"), format!("/{ns}/app/nested/deeper/c")]
    );
    assert_eq!(recursive[&format!("/{ns}/app/nested/deeper/c")].bytes.expose(), b"3", "decrypted");

    let filtered = client
        .find(&FindQuery {
            path: Some(format!("/{ns}/app")),
            name_regexp: Some("nested/.*[bc]$".into()),
            ..Default::default()
        })
        .await
        .expect("find by path and name");
    assert_eq!(names(&filtered), [format!("/{ns}/app/nested/b"), format!("/{ns}/app/nested/deeper/c")]);

    let tags = BTreeMap::from([("find-test".to_string(), ns.clone())]);
    let by_tags = client.find(&FindQuery { tags: tags.clone(), ..Default::default() }).await.expect("find by tags");
    assert_eq!(names(&by_tags), [format!("/{ns}/app/a"), format!("/{ns}/other/d")]);
    assert_eq!(by_tags[&format!("/{ns}/other/d")].bytes.expose(), b"4");
    let by_tags_and_path = client
        .find(&FindQuery { tags, path: Some(format!("/{ns}/other")), ..Default::default() })
        .await
        .expect("find by tags under a path");
    assert_eq!(names(&by_tags_and_path), [format!("/{ns}/other/d")]);
}

#[tokio::test]
async fn find_by_name_ignores_tags() {
    let env = TestEnv::new("params-name-tags").await;
    let ssm = env.ssm_admin();
    let ns = &env.ns;
    put(&ssm, &format!("/{ns}/svc/untagged"), "u", ParameterType::String).await;
    let provider = env.provider();
    let client = env.static_client(&provider, "ParameterStore").await;
    // No parameter carries this tag; ESO reads by name and does not look at the tags.
    let query = FindQuery {
        path: Some(format!("/{ns}/svc")),
        name_regexp: Some("untagged$".into()),
        tags: BTreeMap::from([("no-such-tag".to_string(), "x".to_string())]),
    };
    let found = client.find(&query).await.expect("find by name and tags");
    assert_eq!(found.keys().cloned().collect::<Vec<_>>(), [format!("/{ns}/svc/untagged")]);
    assert_eq!(found[&format!("/{ns}/svc/untagged")].bytes.expose(), b"u");
}

#[tokio::test]
async fn metadata_fetch_returns_the_tags_as_json() {
    let env = TestEnv::new("params-tags").await;
    let ssm = env.ssm_admin();
    let name = format!("/{}/tagged", env.ns);
    ssm.put_parameter()
        .name(&name)
        .value("v")
        .r#type(ParameterType::String)
        .tags(Tag::builder().key("owner").value("platform").build().expect("tag"))
        .tags(Tag::builder().key("cost-center").value("42").build().expect("tag"))
        .send()
        .await
        .expect("PutParameter");
    let provider = env.provider();
    let client = env.static_client(&provider, "ParameterStore").await;
    let key = RemoteKey { key: name.clone(), version: None, metadata_policy: MetadataPolicy::Fetch };
    assert_eq!(text(&client.get(&key).await), r#"{"cost-center":"42","owner":"platform"}"#);
    // AWS answers the tags of a missing parameter with InvalidResourceId, which ESO passes on as an error (only
    // ParameterNotFound is a missing secret): deletion policies must not act on it.
    let missing = RemoteKey { key: format!("/{}/untagged-missing", env.ns), ..key };
    let err = client.get(&missing).await.expect_err("missing parameter");
    assert!(!err.is_not_found(), "{err}");
    assert!(err.to_string().contains("InvalidResourceId"), "{err}");
}
