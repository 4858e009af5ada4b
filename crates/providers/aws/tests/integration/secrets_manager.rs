//! Secrets Manager reads against the local endpoint.

use std::collections::BTreeMap;

use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::Tag;
use external_secrets_provider::{DynProvider, ErrorCategory, FindQuery, MetadataPolicy, RemoteKey, Validation};

use crate::common::{TestEnv, count, isolated_endpoint, text};

fn versioned(key: &str, version: &str) -> RemoteKey {
    RemoteKey { key: key.into(), version: Some(version.into()), metadata_policy: MetadataPolicy::None }
}

#[tokio::test]
async fn reads_json_and_binary_secrets_by_name_and_arn() {
    let env = TestEnv::new("sm-read").await;
    let sm = env.sm_admin();
    let json_name = format!("{}/db", env.ns);
    let created = sm
        .create_secret()
        .name(&json_name)
        .secret_string(r#"{"username":"admin","password":"s3cr3t"}"#)
        .send()
        .await
        .expect("CreateSecret");
    let arn = created.arn().expect("ARN").to_string();
    let binary_name = format!("{}/cert", env.ns);
    let bytes = vec![0u8, 1, 2, 0xff, 0xfe, b'\n'];
    sm.create_secret().name(&binary_name).secret_binary(Blob::new(bytes.clone())).send().await.expect("CreateSecret");

    let provider = env.provider();
    let client = env.static_client(&provider, "SecretsManager").await;
    assert_eq!(client.validate().await.expect("validate"), Validation::Ready);

    let by_name = client.get(&RemoteKey::value(&json_name)).await;
    assert_eq!(text(&by_name), r#"{"username":"admin","password":"s3cr3t"}"#, "the raw JSON document");
    let by_arn = client.get(&RemoteKey::value(&arn)).await;
    assert_eq!(text(&by_arn), r#"{"username":"admin","password":"s3cr3t"}"#);
    // A partial ARN (without the random suffix) names the same secret.
    let partial = arn.rsplit_once('-').map(|(p, _)| p.to_string()).expect("ARN suffix");
    assert_eq!(text(&client.get(&RemoteKey::value(&partial)).await), r#"{"username":"admin","password":"s3cr3t"}"#);
    let binary = client.get(&RemoteKey::value(&binary_name)).await.expect("binary secret");
    assert_eq!(binary.bytes.expose(), bytes.as_slice(), "binary bytes come back raw, not base64");

    // The same through one batched call, ARN and name mixed.
    let many =
        client.get_many(&[RemoteKey::value(&arn), RemoteKey::value(&binary_name), RemoteKey::value(&partial)]).await;
    assert_eq!(text(&many[0]), r#"{"username":"admin","password":"s3cr3t"}"#);
    assert_eq!(many[1].as_ref().expect("binary").bytes.expose(), bytes.as_slice());
    assert_eq!(text(&many[2]), r#"{"username":"admin","password":"s3cr3t"}"#);
}

#[tokio::test]
async fn versions_select_stages_and_version_ids() {
    let env = TestEnv::new("sm-version").await;
    let sm = env.sm_admin();
    let name = format!("{}/rotated", env.ns);
    let first = sm.create_secret().name(&name).secret_string("v1").send().await.expect("CreateSecret");
    let first_id = first.version_id().expect("version id").to_string();
    sm.put_secret_value().secret_id(&name).secret_string("v2").send().await.expect("PutSecretValue");

    let provider = env.provider();
    let client = env.static_client(&provider, "SecretsManager").await;
    assert_eq!(text(&client.get(&RemoteKey::value(&name)).await), "v2");
    assert_eq!(text(&client.get(&versioned(&name, "AWSCURRENT")).await), "v2");
    assert_eq!(text(&client.get(&versioned(&name, "AWSPREVIOUS")).await), "v1");
    assert_eq!(text(&client.get(&versioned(&name, &format!("uuid/{first_id}"))).await), "v1");
    let missing = client.get(&versioned(&name, "uuid/00000000-0000-0000-0000-000000000000")).await;
    assert!(missing.is_err(), "an unknown version id is an error");

    let many = client
        .get_many(&[versioned(&name, "AWSPREVIOUS"), RemoteKey::value(&name), versioned(&name, "AWSCURRENT")])
        .await;
    assert_eq!(many.iter().map(text).collect::<Vec<_>>(), ["v1", "v2", "v2"]);
}

#[tokio::test]
async fn missing_secrets_are_not_found_but_secrets_marked_for_deletion_are_errors() {
    let env = TestEnv::new("sm-missing").await;
    let sm = env.sm_admin();
    let deleted = format!("{}/deleted", env.ns);
    let kept = format!("{}/kept", env.ns);
    sm.create_secret().name(&deleted).secret_string("gone soon").send().await.expect("CreateSecret");
    sm.create_secret().name(&kept).secret_string("here").send().await.expect("CreateSecret");
    sm.delete_secret().secret_id(&deleted).recovery_window_in_days(7).send().await.expect("DeleteSecret");

    let provider = env.provider();
    let client = env.static_client(&provider, "SecretsManager").await;
    let missing_name = format!("{}/never-created", env.ns);
    let err = client.get(&RemoteKey::value(&missing_name)).await.expect_err("missing");
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains(&missing_name), "{err}");
    // AWS (and moto) answer InvalidRequestException; ESO turns only InvalidParameterException "... was marked for
    // deletion" into a missing secret, so this is an error and deletion policies leave the target alone.
    let err = client.get(&RemoteKey::value(&deleted)).await.expect_err("marked for deletion");
    println!("deleted: {err}");
    assert!(!err.is_not_found(), "a secret marked for deletion is an error, not a missing secret: {err}");
    assert!(err.to_string().contains("InvalidRequestException"), "{err}");

    // In a batch, each key gets the answer a read of its own would get.
    let many =
        client.get_many(&[RemoteKey::value(&missing_name), RemoteKey::value(&kept), RemoteKey::value(&deleted)]).await;
    assert!(many[0].as_ref().is_err_and(|e| e.is_not_found()), "{:?}", many[0]);
    assert_eq!(text(&many[1]), "here");
    assert!(many[2].as_ref().is_err_and(|e| !e.is_not_found()), "{:?}", many[2]);

    // Tags of a missing secret (metadataPolicy: Fetch): ESO passes DescribeSecret's error on as an error.
    let tags = RemoteKey { key: missing_name.clone(), version: None, metadata_policy: MetadataPolicy::Fetch };
    let err = client.get(&tags).await.expect_err("tags of a missing secret");
    assert!(!err.is_not_found(), "{err}");
}

#[tokio::test]
async fn twenty_five_keys_cost_two_batch_calls() {
    let endpoint = isolated_endpoint().await;
    let env = TestEnv::with_endpoint("sm-batch", &endpoint.url, endpoint.port).await;
    let sm = env.sm_admin();
    let names: Vec<String> = (0..25).map(|i| format!("{}/batch/{i:02}", env.ns)).collect();
    for (i, name) in names.iter().enumerate() {
        sm.create_secret().name(name).secret_string(format!("value-{i}")).send().await.expect("CreateSecret");
    }
    let provider = env.provider();
    let client = env.static_client(&provider, "SecretsManager").await;
    // The 25 keys, reversed, with three of them asked for twice more.
    let mut keys: Vec<RemoteKey> = names.iter().rev().map(RemoteKey::value).collect();
    keys.extend(names.iter().take(3).map(RemoteKey::value));

    let before = env.counters();
    let results = client.get_many(&keys).await;
    let after = env.counters();

    let expected: Vec<String> = (0..25).rev().chain(0..3).map(|i| format!("value-{i}")).collect();
    assert_eq!(results.iter().map(text).collect::<Vec<_>>(), expected, "answers in input order");
    let batch_calls =
        count(&after, "secretsmanager.BatchGetSecretValue") - count(&before, "secretsmanager.BatchGetSecretValue");
    let single_calls = count(&after, "secretsmanager.GetSecretValue") - count(&before, "secretsmanager.GetSecretValue");
    assert_eq!(batch_calls, 2, "25 distinct keys = 20 + 5");
    assert_eq!(single_calls, 0);
}

#[tokio::test]
async fn metadata_fetch_returns_the_tags_as_json() {
    let env = TestEnv::new("sm-tags").await;
    let sm = env.sm_admin();
    let name = format!("{}/tagged", env.ns);
    sm.create_secret()
        .name(&name)
        .secret_string("value")
        .tags(Tag::builder().key("team").value("payments").build())
        .tags(Tag::builder().key("env").value("prod").build())
        .send()
        .await
        .expect("CreateSecret");
    let provider = env.provider();
    let client = env.static_client(&provider, "SecretsManager").await;
    let key = RemoteKey { key: name.clone(), version: None, metadata_policy: MetadataPolicy::Fetch };
    assert_eq!(text(&client.get(&key).await), r#"{"env":"prod","team":"payments"}"#);
    let many = client.get_many(&[key.clone(), RemoteKey::value(&name)]).await;
    assert_eq!(text(&many[0]), r#"{"env":"prod","team":"payments"}"#);
    assert_eq!(text(&many[1]), "value");
}

#[tokio::test]
async fn prefix_is_prepended_to_every_key() {
    let env = TestEnv::new("sm-prefix").await;
    let sm = env.sm_admin();
    sm.create_secret().name(format!("{}/team-a/db", env.ns)).secret_string("a").send().await.expect("CreateSecret");
    let mut spec = env.static_spec("SecretsManager");
    spec["prefix"] = format!("{}/team-a/", env.ns).into();
    let provider = env.provider();
    let client = provider.client(&env.store(spec)).await.expect("client");
    assert_eq!(text(&client.get(&RemoteKey::value("db")).await), "a");
    let err = client.get(&RemoteKey::value("other")).await.expect_err("missing");
    assert!(err.to_string().contains("team-a/other"), "errors name the remote key: {err}");
}

#[tokio::test]
async fn find_by_path_tags_and_name() {
    let env = TestEnv::new("sm-find").await;
    let sm = env.sm_admin();
    let ns = &env.ns;
    for (name, value, tagged) in
        [("app/one", "1", true), ("app/two", "2", false), ("app/nested/three", "3", true), ("other/four", "4", true)]
    {
        let mut create = sm.create_secret().name(format!("{ns}/{name}")).secret_string(value);
        if tagged {
            create = create.tags(Tag::builder().key("find-test").value(ns.as_str()).build());
        }
        create.send().await.expect("CreateSecret");
    }
    let provider = env.provider();
    let client = env.static_client(&provider, "SecretsManager").await;
    let names =
        |found: &BTreeMap<String, external_secrets_provider::RemoteValue>| found.keys().cloned().collect::<Vec<_>>();
    let everything = Some(".*".to_string());

    let by_path = client
        .find(&FindQuery { path: Some(format!("{ns}/app")), name_regexp: everything.clone(), ..Default::default() })
        .await
        .expect("find");
    assert_eq!(names(&by_path), [format!("{ns}/app/nested/three"), format!("{ns}/app/one"), format!("{ns}/app/two")]);
    assert_eq!(by_path[&format!("{ns}/app/one")].bytes.expose(), b"1");

    let by_path_and_name = client
        .find(&FindQuery { path: Some(format!("{ns}/app")), name_regexp: Some("t[wh]".into()), ..Default::default() })
        .await
        .expect("find");
    assert_eq!(names(&by_path_and_name), [format!("{ns}/app/nested/three"), format!("{ns}/app/two")]);

    let tags = BTreeMap::from([("find-test".to_string(), ns.clone())]);
    let by_tags = client.find(&FindQuery { tags: tags.clone(), ..Default::default() }).await.expect("find");
    assert_eq!(
        names(&by_tags),
        [format!("{ns}/app/nested/three"), format!("{ns}/app/one"), format!("{ns}/other/four")]
    );
    let by_tags_and_path = client
        .find(&FindQuery { tags: tags.clone(), path: Some(format!("{ns}/app")), ..Default::default() })
        .await
        .expect("find");
    assert_eq!(names(&by_tags_and_path), [format!("{ns}/app/nested/three"), format!("{ns}/app/one")]);

    let by_name =
        client.find(&FindQuery { name_regexp: Some(format!("^{ns}/(other|app/one)")), ..Default::default() }).await;
    let by_name = by_name.expect("find by name");
    assert_eq!(names(&by_name), [format!("{ns}/app/one"), format!("{ns}/other/four")]);
    assert_eq!(by_name[&format!("{ns}/other/four")].bytes.expose(), b"4");

    // By name and tags without a path: the tags filter the listing.
    let by_name_and_tags =
        client.find(&FindQuery { name_regexp: Some(format!("^{ns}/app/")), tags, ..Default::default() }).await;
    assert_eq!(names(&by_name_and_tags.expect("find")), [format!("{ns}/app/nested/three"), format!("{ns}/app/one")]);
}

#[tokio::test]
async fn find_without_name_or_tags_is_an_error() {
    let env = TestEnv::new("find-nothing").await;
    let provider = env.provider();
    for service in ["SecretsManager", "ParameterStore"] {
        let client = env.static_client(&provider, service).await;
        for query in [FindQuery::default(), FindQuery { path: Some(format!("/{}/app", env.ns)), ..Default::default() }]
        {
            let err = client.find(&query).await.expect_err("neither name nor tags");
            println!("{service} {query:?}: {err}");
            assert_eq!(err.category(), ErrorCategory::InvalidConfig, "{err}");
            assert!(!err.is_retryable());
            assert!(err.to_string().contains("needs name or tags"), "{err}");
        }
    }
}

#[tokio::test]
async fn errors_never_contain_values() {
    let env = TestEnv::new("sm-noleak").await;
    let sm = env.sm_admin();
    let name = format!("{}/plain", env.ns);
    sm.create_secret().name(&name).secret_string("hunter2-do-not-print").send().await.expect("CreateSecret");
    let provider = env.provider();
    let client = env.static_client(&provider, "SecretsManager").await;
    let value = client.get(&RemoteKey::value(&name)).await.expect("value");
    assert!(!format!("{value:?}").contains("hunter2"));
    let err = client.get(&versioned(&name, "NO_SUCH_STAGE")).await.expect_err("unknown stage");
    assert_ne!(err.category(), ErrorCategory::Unavailable, "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(!format!("{provider:?}").contains("test-secret-access-key"));
}
