//! The AWS SDK for Rust talks to the local endpoint: Secrets Manager, SSM SecureString, and STS web identity
//! with a token minted by the local apiserver — verified by our layer in front of moto's STS.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_ssm::types::ParameterType;
use aws_smithy_http_client::tls;
use external_secrets_testsupport::{aws, cluster};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, ObjectMeta, PostParams};

async fn sdk_config(url: &str, region: &str) -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("AKIDTEST", "test-secret", None, None, "test"))
        .load()
        .await
}

#[tokio::test]
async fn secrets_manager_secret_is_created_and_read_back() {
    let aws = aws().await;
    let conf = sdk_config(&aws.url, &aws.region).await;
    let sm = aws_sdk_secretsmanager::Client::new(&conf);
    let name = format!("test/db-{}", std::process::id());
    sm.create_secret()
        .name(&name)
        .secret_string(r#"{"username":"admin","password":"s3cr3t"}"#)
        .send()
        .await
        .expect("CreateSecret");
    let got = sm.get_secret_value().secret_id(&name).send().await.expect("GetSecretValue");
    assert_eq!(got.secret_string(), Some(r#"{"username":"admin","password":"s3cr3t"}"#));

    let missing = sm.get_secret_value().secret_id("does-not-exist").send().await.expect_err("missing secret");
    assert!(missing.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn ssm_secure_string_is_created_and_read_back_decrypted() {
    let aws = aws().await;
    let conf = sdk_config(&aws.url, &aws.region).await;
    let ssm = aws_sdk_ssm::Client::new(&conf);
    let name = format!("/test/app-{}/password", std::process::id());
    ssm.put_parameter()
        .name(&name)
        .value("p@ss")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .expect("PutParameter");
    let got = ssm.get_parameter().name(&name).with_decryption(true).send().await.expect("GetParameter");
    let param = got.parameter().expect("parameter");
    assert_eq!(param.value(), Some("p@ss"));
    assert_eq!(param.r#type(), Some(&ParameterType::SecureString));
}

#[tokio::test]
async fn assume_role_with_web_identity_accepts_the_right_token_and_refuses_others() {
    let cluster = cluster().await;
    let aws = aws().await;
    let admin = cluster.admin_client().await.expect("admin client");
    let ns = cluster.namespace("irsa").await.expect("namespace");
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), &ns);
    for name in ["appsecrets-sa", "other-sa"] {
        let sa = ServiceAccount {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            ..Default::default()
        };
        sas.create(&PostParams::default(), &sa).await.expect("create SA");
    }
    let role = "arn:aws:iam::123456789012:role/appsecrets";

    // Turn on our verifying layer: the apiserver's JWKS, its issuer, and the one subject allowed the role.
    let jwks = admin
        .request_text(http::Request::get("/openid/v1/jwks").body(Vec::new()).expect("request"))
        .await
        .expect("JWKS");
    let config = serde_json::json!({
        "issuer": cluster.issuer,
        "jwks": serde_json::from_str::<serde_json::Value>(&jwks).expect("JWKS JSON"),
        "roles": { format!("system:serviceaccount:{ns}:appsecrets-sa"): role },
    });
    post_json(aws.port, "/_esr/irsa", &config.to_string());

    let conf = sdk_config(&aws.url, &aws.region).await;
    let sts = aws_sdk_sts::Client::new(&conf);
    let token = cluster.service_account_token(&ns, "appsecrets-sa", &["sts.amazonaws.com"], 3600).await.expect("token");
    let out = sts
        .assume_role_with_web_identity()
        .role_arn(role)
        .role_session_name("external-secrets-provider-aws")
        .web_identity_token(&token)
        .send()
        .await
        .expect("AssumeRoleWithWebIdentity with the right token");
    let creds = out.credentials().expect("credentials");
    assert!(!creds.access_key_id().is_empty());

    let other = cluster.service_account_token(&ns, "other-sa", &["sts.amazonaws.com"], 3600).await.expect("token");
    let denied = sts
        .assume_role_with_web_identity()
        .role_arn(role)
        .role_session_name("x")
        .web_identity_token(&other)
        .send()
        .await;
    assert!(denied.is_err(), "another ServiceAccount must not get the role");

    let wrong_audience = cluster.service_account_token(&ns, "appsecrets-sa", &["not-sts"], 3600).await.expect("token");
    let denied = sts
        .assume_role_with_web_identity()
        .role_arn(role)
        .role_session_name("x")
        .web_identity_token(&wrong_audience)
        .send()
        .await;
    assert!(denied.is_err(), "a token for another audience must be refused");

    let denied = sts
        .assume_role_with_web_identity()
        .role_arn(role)
        .role_session_name("x")
        .web_identity_token("not-a-jwt")
        .send()
        .await;
    assert!(denied.is_err(), "garbage must be refused");
    post_json(aws.port, "/_esr/irsa", "null");
}

/// A minimal HTTP/1.0 POST to the endpoint's test API.
fn post_json(port: u16, path: &str, body: &str) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(s, "POST {path} HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len())
        .expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    assert!(resp.starts_with("HTTP/1.0 200") || resp.starts_with("HTTP/1.1 200"), "{resp}");
}
