//! Execution limits and robustness: no input makes the parser or the evaluator panic, and the deepest template
//! the limits allow still runs on a small thread stack.
#![allow(clippy::panic)]

use external_secrets_template::{Delimiters, Template, Value};
use proptest::prelude::*;

/// Renders on a thread with the given stack size; returns whether the thread finished (no stack overflow or
/// panic) and the result.
fn run_on_small_stack(template: String, stack: usize) -> Option<Result<String, String>> {
    let handle = std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || {
            let t = Template::parse("deep", &template, &Delimiters::default()).map_err(|e| e.to_string())?;
            t.execute(&Value::string_map([("a", "1")]))
                .map(|out| String::from_utf8_lossy(&out).into_owned())
                .map_err(|e| e.to_string())
        })
        .ok()?;
    handle.join().ok()
}

/// A template that nests `depth` ifs around a call to itself, with parenthesized pipelines as arguments.
fn recursive_template(depth: usize) -> String {
    let body = format!(
        "{}{{{{ template \"rec\" (and (or .) .) }}}}{}",
        "{{ if true }}".repeat(depth),
        "{{ end }}".repeat(depth)
    );
    format!("{{{{ define \"rec\" }}}}{body}{{{{ end }}}}{{{{ template \"rec\" . }}}}")
}

#[test]
fn deepest_allowed_templates_run_on_a_two_mib_stack() {
    // Tokio's worker threads have 2 MiB stacks; this test runs the unoptimized build, whose frames are larger.
    for depth in [0, 1, 5, 20, 50, 98] {
        let result = run_on_small_stack(recursive_template(depth), 2 << 20);
        let Some(result) = result else { panic!("depth {depth}: the render thread overflowed its stack or panicked") };
        let Err(message) = result else { panic!("depth {depth}: expected a limit") };
        assert!(message.contains("exceeded maximum"), "depth {depth}: {message}");
    }
}

#[test]
fn deeply_nested_values_are_dropped_without_recursion() {
    // 100k maps (and 50k lists), each inside the previous one; dropping them recursively would overflow the stack.
    let template = r#"{{ $root := dict }}{{ $cur := $root }}{{ range 100000 }}{{ $next := dict }}{{ $_ := set $cur "c" $next }}{{ $cur = $next }}{{ end }}{{ $l := list }}{{ range 50000 }}{{ $l = list $l }}{{ end }}done"#;
    let result = run_on_small_stack(template.to_owned(), 2 << 20);
    assert_eq!(result, Some(Ok("done".to_owned())));
}

fn argument() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        ".",
        ".a",
        ".b",
        "$",
        "nil",
        "true",
        "0",
        "1",
        "-1",
        "3",
        "2.5",
        "-7.25",
        "1e300",
        "9223372036854775807",
        "-9223372036854775808",
        "\"\"",
        "\"a\"",
        "\"-1\"",
        "\"1h\"",
        "\"2006-01-02\"",
        "\"%v %d %s %x %q %*d %-08.3f %[3]s %!\"",
        "\"[\"",
        "\"(a)(b)?\"",
        "\"a\\u00e9\\x00b\"",
        "(list)",
        "(list 1 \"a\" nil)",
        "(dict)",
        "(dict \"a\" 1 \"b\" (dict \"c\" 2))",
        "(fromJson .a)",
        "(now)",
        "(splitList \",\" \"a,b\")",
    ])
}

fn token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "{{",
        "}}",
        "{{- ",
        " -}}",
        "{{/*",
        "*/}}",
        " ",
        "\n",
        ".",
        ".a",
        ".b.c",
        "$",
        "$x",
        " := ",
        " = ",
        "|",
        "(",
        ")",
        "\"s\"",
        "`r`",
        "'c'",
        "1",
        "-2",
        "3.5",
        "0x1f",
        "true",
        "nil",
        "if",
        "else",
        "end",
        "range",
        "with",
        "define",
        "template",
        "block",
        "break",
        "continue",
        "\"t\"",
        "index",
        "printf",
        "\"%d %s %v\"",
        "len",
        "and",
        "or",
        "not",
        "eq",
        "lt",
        "default",
        "toJson",
        "fromJson",
        "dict",
        "list",
        "set",
        "merge",
        "keys",
        "b64enc",
        "b64dec",
        "upper",
        "repeat",
        "add",
        "div",
        "mod",
        "regexFind",
        "\"[a\"",
        "until",
        "slice",
        "date",
        "now",
        "toDate",
        "fail",
        ",",
        "x",
        "text",
        "9223372036854775807",
        "-9223372036854775808",
        "untilStep",
        "seq",
        "substr",
        "abbrevboth",
        "abbrev",
        "trunc",
        "round",
        "\"%*d\"",
        "wrap",
        "indent",
        "sub",
        "mul",
        "splitn",
        "regexSplit",
        "\"\u{e9}\"",
        "filterPEM",
        "\"-----BEGIN \u{e9}-----\\n-----END \u{e9}\u{e9}-----\"",
        "chunk",
        "dateModify",
        "duration",
    ])
}

proptest! {
    // Bounded for CI; set TEMPLATE_FUZZ_CASES for a longer local run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("TEMPLATE_FUZZ_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2000),
        .. ProptestConfig::default()
    })]

    #[test]
    fn parser_and_executor_never_panic_on_token_soup(tokens in prop::collection::vec(token(), 0..40)) {
        let text: String = tokens.concat();
        if let Ok(t) = Template::parse("fuzz", &text, &Delimiters::default()) {
            let data = Value::string_map([("a", "{\"k\":[1,2]}"), ("b", "x")]);
            let _ = t.execute(&data);
        }
    }

    #[test]
    fn every_function_survives_arbitrary_arguments(
        calls in prop::collection::vec((0usize..1000, prop::collection::vec(argument(), 0..4)), 1..4)
    ) {
        let names = external_secrets_template::function_names();
        let mut text = String::new();
        for (i, (f, args)) in calls.iter().enumerate() {
            let name = names[f % names.len()];
            if name == "fail" {
                continue;
            }
            text.push_str(&format!("{{{{ $v{i} := {name} {} }}}}{{{{ $v{i} }}}}", args.join(" ")));
        }
        let t = Template::parse("fuzz", &text, &Delimiters::default());
        prop_assert!(t.is_ok(), "{text}: {t:?}");
        if let Ok(t) = t {
            let _ = t.execute(&Value::string_map([("a", "{\"k\":[1,2],\"m\":{\"x\":null}}"), ("b", "-----BEGIN X-----\nQQ==\n-----END X-----\n")]));
        }
    }

    #[test]
    fn parser_and_executor_never_panic_on_arbitrary_text(text in "[{}()|.$:=, \"'`a-z0-9\\\\\n-]{0,80}") {
        if let Ok(t) = Template::parse("fuzz", &text, &Delimiters::default()) {
            let _ = t.execute(&Value::string_map([("a", "1")]));
        }
    }

    #[test]
    fn parser_never_panics_on_any_unicode(text in "\\PC{0,60}") {
        if let Ok(t) = Template::parse("fuzz", &text, &Delimiters::new("<", ">")) {
            let _ = t.execute(&Value::Nil);
        }
    }
}
