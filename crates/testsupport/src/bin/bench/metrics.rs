//! Counting from outside: the apiserver's own `apiserver_request_total` (scraped as admin) and the operator's
//! `externalsecret_provider_api_calls_count`, as before/after deltas.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::{Value, json};

/// One sample of a Prometheus text exposition: labels and value.
fn samples<'a>(text: &'a str, metric: &'a str) -> impl Iterator<Item = (BTreeMap<String, String>, f64)> + 'a {
    text.lines().filter_map(move |line| {
        let rest = line.strip_prefix(metric)?;
        let (labels, value) = if let Some(rest) = rest.strip_prefix('{') {
            let (labels, value) = rest.rsplit_once('}')?;
            (parse_labels(labels), value)
        } else if rest.starts_with(' ') {
            (BTreeMap::new(), rest)
        } else {
            return None;
        };
        let value = value.split_whitespace().next()?.parse().ok()?;
        Some((labels, value))
    })
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while let Some((name, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(if escaped == 'n' { '\n' } else { escaped });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.insert(name.trim_start_matches(',').trim().to_string(), value);
        rest = &after[end..];
    }
    labels
}

/// Apiserver requests: `(verb, resource[/subresource], code)` → count. Requests for non-resource paths
/// (`/metrics`, `/readyz`, `/openid/...`) are left out: they are the benchmark's own scrapes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApiRequests(pub BTreeMap<(String, String, String), f64>);

impl ApiRequests {
    pub fn parse(text: &str) -> Self {
        let mut counts = BTreeMap::new();
        for (labels, value) in samples(text, "apiserver_request_total") {
            let resource = labels.get("resource").cloned().unwrap_or_default();
            if resource.is_empty() {
                continue;
            }
            let resource = match labels.get("subresource").map(String::as_str) {
                Some(sub) if !sub.is_empty() => format!("{resource}/{sub}"),
                _ => resource,
            };
            let key = (
                labels.get("verb").cloned().unwrap_or_default(),
                resource,
                labels.get("code").cloned().unwrap_or_default(),
            );
            *counts.entry(key).or_insert(0.0) += value;
        }
        Self(counts)
    }

    /// What was counted after `before` was taken.
    pub fn since(&self, before: &Self) -> Self {
        let mut delta = BTreeMap::new();
        for (k, v) in &self.0 {
            let d = v - before.0.get(k).copied().unwrap_or(0.0);
            if d > 0.0 {
                delta.insert(k.clone(), d);
            }
        }
        Self(delta)
    }

    /// The same counts without one resource (`leases`: leader election, which is not part of a refresh).
    pub fn without(&self, resource: &str) -> Self {
        Self(self.0.iter().filter(|((_, r, _), _)| r != resource).map(|(k, v)| (k.clone(), *v)).collect())
    }

    fn sum(&self, keep: impl Fn(&str, &str, &str) -> bool) -> u64 {
        self.0.iter().filter(|((v, r, c), _)| keep(v, r, c)).map(|(_, n)| *n).sum::<f64>().round() as u64
    }

    /// All requests except watches (which are counted when they end, so not in the window they cover).
    pub fn total(&self) -> u64 {
        self.sum(|v, _, _| v != "WATCH")
    }

    pub fn reads(&self) -> u64 {
        self.sum(|v, _, _| v == "GET" || v == "LIST")
    }

    pub fn writes(&self) -> u64 {
        self.sum(|v, _, _| is_write(v))
    }

    pub fn throttled(&self) -> u64 {
        self.sum(|_, _, c| c == "429")
    }

    /// Writes to one resource (`secrets`, `externalsecrets/status`, ...).
    pub fn writes_to(&self, resource: &str) -> u64 {
        self.sum(|v, r, _| is_write(v) && r == resource)
    }

    /// Requests of one verb to one resource.
    pub fn count(&self, verb: &str, resource: &str) -> u64 {
        self.sum(|v, r, _| v == verb && r == resource)
    }

    /// `{"PATCH externalsecrets/status": 1000, ...}` (all codes added up), plus the codes that were not 2xx.
    pub fn to_json(&self) -> Value {
        let mut by_verb: BTreeMap<String, u64> = BTreeMap::new();
        let mut errors: BTreeMap<String, u64> = BTreeMap::new();
        for ((verb, resource, code), n) in &self.0 {
            *by_verb.entry(format!("{verb} {resource}")).or_insert(0) += n.round() as u64;
            if !code.starts_with('2') {
                *errors.entry(format!("{verb} {resource} {code}")).or_insert(0) += n.round() as u64;
            }
        }
        json!({
            "total": self.total(),
            "reads": self.reads(),
            "writes": self.writes(),
            "throttled_429": self.throttled(),
            "by_verb_resource": by_verb,
            "not_2xx": errors,
        })
    }
}

fn is_write(verb: &str) -> bool {
    matches!(verb, "POST" | "PUT" | "PATCH" | "DELETE" | "DELETECOLLECTION" | "APPLY" | "CREATE" | "UPDATE")
}

/// `externalsecret_provider_api_calls_count`: `"provider call status"` → count.
pub fn provider_calls(text: &str) -> BTreeMap<String, u64> {
    let mut calls = BTreeMap::new();
    for (labels, value) in samples(text, "externalsecret_provider_api_calls_count") {
        let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
        *calls.entry(format!("{} {} {}", get("provider"), get("call"), get("status"))).or_insert(0) +=
            value.round() as u64;
    }
    calls
}

pub fn calls_since(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v.saturating_sub(before.get(k).copied().unwrap_or(0))))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// The apiserver's request counters, scraped as admin.
pub async fn scrape_apiserver(client: &kube::Client) -> Result<ApiRequests> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    Ok(ApiRequests::parse(&client.request_text(request).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const APISERVER: &str = r#"# HELP apiserver_request_total [STABLE] Counter of apiserver requests
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="secrets",scope="resource",subresource="",verb="POST",version="v1"} 10
apiserver_request_total{code="200",component="apiserver",dry_run="",group="external-secrets.io",resource="externalsecrets",scope="resource",subresource="status",verb="PATCH",version="v1"} 7
apiserver_request_total{code="429",component="apiserver",dry_run="",group="",resource="secrets",scope="resource",subresource="",verb="POST",version="v1"} 2
apiserver_request_total{code="0",component="apiserver",dry_run="",group="",resource="secrets",scope="namespace",subresource="",verb="WATCH",version="v1"} 3
apiserver_request_total{code="200",component="",dry_run="",group="",resource="",scope="",subresource="/metrics",verb="GET",version=""} 99
apiserver_request_total_other{code="200"} 5
"#;

    #[test]
    fn apiserver_requests_are_counted_by_verb_resource_and_code_without_scrapes() {
        let counts = ApiRequests::parse(APISERVER);
        assert_eq!(counts.count("POST", "secrets"), 12);
        assert_eq!(counts.writes_to("externalsecrets/status"), 7);
        assert_eq!(counts.throttled(), 2);
        assert_eq!(counts.total(), 19, "watches and non-resource requests are not in the total");
        assert_eq!(counts.writes(), 19);
        assert_eq!(counts.reads(), 0);
        let json = counts.to_json();
        assert_eq!(json["by_verb_resource"]["POST secrets"], 12);
        assert_eq!(json["not_2xx"]["POST secrets 429"], 2);
    }

    #[test]
    fn deltas_keep_only_what_grew() {
        let before = ApiRequests::parse(APISERVER);
        let after = ApiRequests::parse(&APISERVER.replace("} 10\n", "} 15\n"));
        let delta = after.since(&before);
        assert_eq!(delta.count("POST", "secrets"), 5);
        assert_eq!(delta.total(), 5);
    }

    #[test]
    fn provider_calls_are_keyed_by_provider_call_and_status() {
        let text = "externalsecret_provider_api_calls_count{provider=\"AWS/SecretsManager\",call=\"GetSecretValue\",\
                    status=\"success\"} 4\n";
        let calls = provider_calls(text);
        assert_eq!(calls.get("AWS/SecretsManager GetSecretValue success"), Some(&4));
        let before = calls.clone();
        assert!(calls_since(&calls, &before).is_empty());
    }
}
