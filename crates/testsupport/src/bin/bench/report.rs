//! The results: one JSON document per invocation (for programs and `compare`) and a Markdown table beside it (for
//! people), one column per operator command line with the ratio of the second to the first.

use std::fmt::Write as _;

use serde_json::Value;

/// Which way is better for a figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

/// One row of the tables: where it is in a run's results, what it is, and the target from PERFORMANCE.md.
pub struct Figure {
    pub path: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    pub better: Better,
    pub target: &'static str,
}

const fn fig(
    path: &'static str,
    label: &'static str,
    unit: &'static str,
    better: Better,
    target: &'static str,
) -> Figure {
    Figure { path, label, unit, better, target }
}

use Better::{Higher, Lower};

/// The figures the tables show and `compare` checks, in order.
pub const FIGURES: &[Figure] = &[
    fig("s0.writes_per_second", "S0 write ceiling W (Secret creates/s)", "/s", Higher, "(calibration)"),
    fig("idle.rss_mib", "idle RSS", "MiB", Lower, "≤ 15 MiB (issue 10: ≤ 10)"),
    fig("idle.ready_s", "idle start-up to /readyz", "s", Lower, "—"),
    fig("s1.ready_s_p50", "S1 cold start, Ready p50", "s", Lower, "—"),
    fig("s1.ready_s_p99", "S1 cold start, Ready p99", "s", Lower, "—"),
    fig("s1.ready_s_100", "S1 cold start, all Ready", "s", Lower, "≤ 1.5× write floor (10k), ≥ 10× faster than ESO"),
    fig("s1.write_floor_s", "S1 write floor 2N/W", "s", Lower, "(calibration)"),
    fig("s1.ratio_to_write_floor", "S1 all Ready / write floor", "×", Lower, "≤ 1.5 (10k); issue 10: ≤ 2"),
    fig("s1.peak_rss_mib", "S1 peak RSS (VmHWM)", "MiB", Lower, "—"),
    fig("s1.cpu_s", "S1 CPU (user+system)", "s", Lower, "—"),
    fig("s1.apiserver.total", "S1 apiserver requests (no watches)", "", Lower, "—"),
    fig("s1.apiserver_requests_per_externalsecret", "S1 apiserver requests per ExternalSecret", "", Lower, "—"),
    fig("s1.apiserver_requests_per_second", "S1 apiserver requests/s", "/s", Lower, "polite to a shared apiserver"),
    fig("s1.apiserver.throttled_429", "S1 apiserver 429 answers", "", Lower, "—"),
    fig(
        "s2.provider_calls_per_refresh",
        "S2 provider calls per refresh (operator metric)",
        "",
        Lower,
        "≤ distinct keys",
    ),
    fig("s2.apiserver_reads_per_refresh", "S2 apiserver reads per ExternalSecret refresh", "", Lower, "0"),
    fig("s2.apiserver_writes_per_refresh", "S2 apiserver writes per ExternalSecret refresh", "", Lower, "≤ 1"),
    fig("s2.cpu_s_per_1000_refreshes", "S2 CPU per 1000 refreshes", "s", Lower, "≤ 0.2× ESO"),
    fig("s3.secret_writes", "S3 Secret writes on unchanged refreshes (apiserver)", "", Lower, "0"),
    fig("s3.target_secrets_changed", "S3 target Secrets with a new resourceVersion", "", Lower, "0"),
    fig("s3.externalsecrets_refreshed", "S3 ExternalSecrets refreshed in the window", "", Higher, "all"),
    fig("s4.delay_s_p50", "S4 provider change → Secret, p50", "s", Lower, "—"),
    fig("s4.delay_s_p99", "S4 provider change → Secret, p99", "s", Lower, "—"),
    fig("s4.beyond_schedule_s_p99", "S4 beyond the scheduled refresh, p99", "s", Lower, "≤ 1 s"),
    fig("s4.not_propagated", "S4 changes not propagated in time", "", Lower, "0"),
    fig("s5.rss_at_n_mib", "S5 RSS at N", "MiB", Lower, "≤ 0.25× ESO"),
    fig("s5.rss_per_externalsecret_kib", "S5 RSS per ExternalSecret", "KiB", Lower, "≤ 8 KiB (10k)"),
    fig("s5.unrelated_rss_delta_mib", "S5 RSS change with unrelated Secrets", "MiB", Lower, "≤ 2 MiB for 10k"),
    fig("s6.secret_writes", "S6 Secret writes after a restart", "", Lower, "0"),
    fig("s6.status_writes", "S6 status writes after a restart", "", Lower, "—"),
    fig("s6.apiserver.total", "S6 apiserver requests after a restart", "", Lower, "—"),
    fig("s6.peak_refreshes_per_second", "S6 peak refreshes in any 1 s", "", Lower, "—"),
    fig("s7.converge_s", "S7 converge at the provider quota", "s", Lower, "near the lower bound M/quota"),
    fig("s7.retry_amplification", "S7 retry amplification (attempted/succeeded)", "×", Lower, "≤ 1.2"),
    fig("s7.calls_throttled", "S7 calls throttled", "", Lower, "—"),
    fig("s8.first_sync_token_requests", "S8 TokenRequests, first sync", "", Lower, "≤ 1 per (role, SA, audience)"),
    fig("s8.first_sync_sts_calls", "S8 STS calls, first sync", "", Lower, "≤ 1 per (role, SA, audience)"),
    fig(
        "s8.token_requests_per_cycle",
        "S8 TokenRequests per refresh cycle",
        "",
        Lower,
        "0 within the credential lifetime",
    ),
    fig("s8.sts_calls_per_cycle", "S8 STS calls per refresh cycle", "", Lower, "0 within the credential lifetime"),
];

/// The value at a dotted path of a run's results.
pub fn lookup(results: &Value, path: &str) -> Option<f64> {
    path.split('.').try_fold(results, |v, k| v.get(k)).and_then(Value::as_f64)
}

fn format_value(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "—".to_string(),
        Some(v) if v.is_nan() => "n/a".to_string(),
        Some(v) => {
            let number = if v.fract() == 0.0 && v.abs() < 1e12 { format!("{v:.0}") } else { format!("{v}") };
            match unit {
                "" => number,
                "/s" => format!("{number}/s"),
                "×" => format!("{number}×"),
                u => format!("{number} {u}"),
            }
        }
    }
}

/// `b / a` as text, or `—`.
fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a != 0.0 && a.is_finite() && b.is_finite() => format!("{:.2}", b / a),
        _ => "—".to_string(),
    }
}

/// Whether `b` is worse than `a` by more than `limit` (0.2 = 20 %) of `|a|` and by more than `slack` (the
/// measurement's noise in its unit). A zero that becomes non-zero is worse.
pub fn regressed(better: Better, a: f64, b: f64, limit: f64, slack: f64) -> bool {
    if !a.is_finite() || !b.is_finite() {
        return false;
    }
    let worse_by = match better {
        Lower => b - a,
        Higher => a - b,
    };
    worse_by > limit * a.abs() && worse_by > slack.max(1e-9)
}

/// The noise of a figure in its unit: RSS readings move by a few hundred KiB, times by tens of milliseconds.
fn slack(unit: &str) -> f64 {
    match unit {
        "MiB" | "KiB" => 0.5,
        "s" => 0.05,
        _ => 0.0,
    }
}

/// The Markdown of a result document: the side-by-side table, the apiserver requests per first sync, and the
/// machine, versions, commit and command.
pub fn markdown(doc: &Value) -> String {
    let runs = doc["runs"].as_array().cloned().unwrap_or_default();
    let facts = &doc["facts"];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Benchmark {} (commit {}, N = {})\n",
        facts["date_utc"].as_str().unwrap_or(""),
        facts["commit"].as_str().unwrap_or(""),
        doc["settings"]["n"]
    );
    if doc["development"].as_bool() == Some(true) {
        let _ = writeln!(
            out,
            "**Development run ({}): not for the README's figures.**\n",
            doc["development_reason"].as_str().unwrap_or("")
        );
    }
    let labels: Vec<String> =
        runs.iter().map(|r| format!("{} ", r["label"].as_str().unwrap_or("?")).trim().to_string()).collect();
    out.push_str("| figure |");
    for l in &labels {
        let _ = write!(out, " {l} |");
    }
    if runs.len() == 2 {
        let _ = write!(out, " {} / {} |", labels[1], labels[0]);
    }
    out.push_str(" target (PERFORMANCE.md) |\n|---|");
    out.push_str(&"---|".repeat(runs.len() + usize::from(runs.len() == 2) + 1));
    out.push('\n');
    for f in FIGURES {
        let values: Vec<Option<f64>> = runs.iter().map(|r| lookup(&r["results"], f.path)).collect();
        if values.iter().all(Option::is_none) {
            continue;
        }
        let _ = write!(out, "| {} |", f.label);
        for v in &values {
            let _ = write!(out, " {} |", format_value(*v, f.unit));
        }
        if runs.len() == 2 {
            let _ = write!(out, " {} |", ratio(values[0], values[1]));
        }
        let _ = writeln!(out, " {} |", f.target);
    }
    for (scenario, title) in [
        ("s1", "S1 apiserver requests per ExternalSecret (first sync), by verb and resource"),
        ("s2", "S2 apiserver requests in the window, by verb and resource"),
        ("s6", "S6 apiserver requests after the restart, by verb and resource"),
    ] {
        let key = if scenario == "s1" { "apiserver_requests_per_externalsecret_by_verb_resource" } else { "apiserver" };
        let tables: Vec<Value> = runs
            .iter()
            .map(|r| {
                let v = &r["results"][scenario][key];
                if scenario == "s1" { v.clone() } else { v["by_verb_resource"].clone() }
            })
            .collect();
        if tables.iter().all(|t| t.as_object().is_none_or(|m| m.is_empty())) {
            continue;
        }
        let mut keys: Vec<String> =
            tables.iter().filter_map(Value::as_object).flat_map(|m| m.keys().cloned()).collect();
        keys.sort();
        keys.dedup();
        let _ = writeln!(out, "\n### {title}\n");
        let _ = writeln!(
            out,
            "| request |{}\n|---|{}",
            labels.iter().map(|l| format!(" {l} |")).collect::<String>(),
            "---|".repeat(labels.len())
        );
        // Watches are counted when they end (here mostly kube-controller-manager's, timing out): not a cost of
        // the window.
        for k in keys.into_iter().filter(|k| !k.starts_with("WATCH ")) {
            let _ = write!(out, "| {k} |");
            for t in &tables {
                let _ = write!(out, " {} |", format_value(t.get(&k).and_then(Value::as_f64), ""));
            }
            out.push('\n');
        }
    }
    for (scenario, key, title) in [
        ("s1", "provider_calls", "S1 provider calls (operator's externalsecret_provider_api_calls_count)"),
        ("s7", "endpoint_counts", "S7 calls at the throttling proxy"),
        ("s8", "endpoint_counts_refresh", "S8 calls at the endpoint during the refresh cycles"),
    ] {
        let shown: Vec<String> = runs.iter().map(|r| r["results"][scenario][key].to_string()).collect();
        if shown.iter().all(|s| s == "null") {
            continue;
        }
        let _ = writeln!(out, "\n### {title}\n");
        for (l, s) in labels.iter().zip(shown) {
            let _ = writeln!(out, "- {l}: `{s}`");
        }
    }
    out.push_str("\n## Operators\n\n");
    for (l, r) in labels.iter().zip(&runs) {
        let _ = writeln!(out, "- {l}: `{}`", r["operator_cmd"].as_str().unwrap_or(""));
        if let Some(e) = r["error"].as_str() {
            let _ = writeln!(out, "  - **failed**: {}", one_line(e, 400));
        }
        if let Some(results) = r["results"].as_object() {
            for (key, v) in results {
                if let Some(e) = v["error"].as_str() {
                    let _ = writeln!(out, "  - {key} failed: {}", one_line(e, 400));
                }
            }
        }
    }
    out.push_str("\n## Machine and versions\n\n");
    if let Some(m) = facts.as_object() {
        for (k, v) in m {
            let _ = writeln!(out, "- {k}: {}", v.as_str().unwrap_or(""));
        }
    }
    let _ = writeln!(out, "\n## Command\n\n```\n{}\n```", doc["command"].as_str().unwrap_or(""));
    let charts: Vec<&str> = doc["charts"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if !charts.is_empty() {
        out.push_str("\n## Charts\n\n");
        for svg in charts {
            let _ = writeln!(out, "![{svg}]({svg})");
        }
    }
    out
}

/// `text` on one line, at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

/// `compare A.json B.json`: every figure of A's first run against B's first run; regressions over `limit`.
pub fn compare(a: &Value, b: &Value, limit: f64) -> (String, usize) {
    let run = |d: &Value| d["runs"][0]["results"].clone();
    let (ra, rb) = (run(a), run(b));
    let name = |d: &Value| {
        format!(
            "{} {}{}",
            d["facts"]["commit"].as_str().unwrap_or("?"),
            d["facts"]["date_utc"].as_str().unwrap_or(""),
            if d["development"].as_bool() == Some(true) { " (development run)" } else { "" }
        )
    };
    let mut out = format!("A: {}\nB: {}\n\n", name(a), name(b));
    for setting in ["n", "refresh_s", "unrelated", "s4_changes", "s7_keys", "s7_tps", "s8_n"] {
        let (x, y) = (&a["settings"][setting], &b["settings"][setting]);
        if x != y {
            let _ = writeln!(out, "**Not the same run: `{setting}` is {x} in A and {y} in B.**\n");
        }
    }
    out.push_str("| figure | A | B | B / A | |\n|---|---|---|---|---|\n");
    let mut regressions = 0;
    for f in FIGURES {
        let (va, vb) = (lookup(&ra, f.path), lookup(&rb, f.path));
        if va.is_none() && vb.is_none() {
            continue;
        }
        let flag = match (va, vb) {
            (Some(x), Some(y)) if regressed(f.better, x, y, limit, slack(f.unit)) => {
                regressions += 1;
                format!("**regression > {:.0} %**", limit * 100.0)
            }
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {flag} |",
            f.label,
            format_value(va, f.unit),
            format_value(vb, f.unit),
            ratio(va, vb)
        );
    }
    let _ = writeln!(out, "\n{regressions} regression(s) over {:.0} %", limit * 100.0);
    (out, regressions)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(ready: f64, writes: f64, w: f64) -> Value {
        json!({
            "facts": {"commit": "abc", "date_utc": "2026-12-03T00:00:00Z"},
            "settings": {"n": 10},
            "runs": [{"label": "ours", "operator_cmd": "x", "results": {
                "s0": {"writes_per_second": w},
                "s1": {"ready_s_100": ready},
                "s3": {"secret_writes": writes}
            }}]
        })
    }

    #[test]
    fn regressions_are_worse_by_more_than_the_limit_in_the_figures_direction() {
        assert!(regressed(Lower, 10.0, 12.5, 0.2, 0.0));
        assert!(!regressed(Lower, 10.0, 11.9, 0.2, 0.0));
        assert!(regressed(Lower, 0.0, 1.0, 0.2, 0.0), "a zero that becomes non-zero is worse");
        assert!(!regressed(Lower, 0.0, 0.0, 0.2, 0.0));
        assert!(regressed(Higher, 100.0, 79.0, 0.2, 0.0));
        assert!(!regressed(Higher, 100.0, 150.0, 0.2, 0.0));
        assert!(!regressed(Lower, f64::NAN, 1.0, 0.2, 0.0));
        assert!(!regressed(Lower, -0.11, 0.0, 0.2, 0.5), "within the noise of an RSS reading");
        assert!(regressed(Lower, -0.11, 1.0, 0.2, 0.5));
    }

    #[test]
    fn compare_flags_each_regressed_figure() {
        let (text, n) = compare(&doc(10.0, 0.0, 1000.0), &doc(13.0, 2.0, 990.0), 0.2);
        assert_eq!(n, 2, "{text}");
        assert!(text.contains("| S1 cold start, all Ready | 10 s | 13 s | 1.30 | **regression > 20 %** |"), "{text}");
        let (_, none) = compare(&doc(10.0, 0.0, 1000.0), &doc(9.0, 0.0, 1100.0), 0.2);
        assert_eq!(none, 0);
    }

    #[test]
    fn two_runs_are_shown_side_by_side_with_their_ratio() {
        let mut d = doc(10.0, 0.0, 1000.0);
        let mut second = d["runs"][0].clone();
        second["label"] = json!("eso");
        second["results"]["s1"]["ready_s_100"] = json!(100.0);
        d["runs"].as_array_mut().unwrap().push(second);
        let md = markdown(&d);
        assert!(md.contains("| figure | ours | eso | eso / ours |"), "{md}");
        assert!(md.contains("| S1 cold start, all Ready | 10 s | 100 s | 10.00 |"), "{md}");
    }
}
