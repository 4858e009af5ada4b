//! FUNCTIONS.md lists exactly the functions the engine registers.

use std::collections::BTreeSet;

#[test]
fn functions_md_lists_exactly_the_registered_functions() {
    let doc = include_str!("../FUNCTIONS.md");
    let start = doc.find("## Supported").unwrap_or(0);
    let end = doc.find("## Not supported yet").unwrap_or(doc.len());
    let section = &doc[start..end];
    let documented: BTreeSet<&str> =
        section.lines().filter_map(|line| line.strip_prefix("| `")).filter_map(|rest| rest.split('`').next()).collect();
    let registered: BTreeSet<&str> = external_secrets_template::function_names().into_iter().collect();
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "undocumented: {undocumented:?}; documented but unknown: {unknown:?}"
    );
    let heading = format!("## Supported ({})", registered.len());
    assert!(doc.contains(&heading), "FUNCTIONS.md heading should read {heading:?}");
}

#[test]
fn unsupported_functions_are_parse_errors() {
    let doc = include_str!("../FUNCTIONS.md");
    let start = doc.find("## Not supported yet").unwrap_or(0);
    let end = doc.find("## Known differences").unwrap_or(doc.len());
    let names: Vec<&str> = doc[start..end].split('`').skip(1).step_by(2).filter(|n| !n.contains(' ')).collect();
    assert!(names.contains(&"call"), "{names:?}");
    for name in names {
        let text = format!("{{{{ {name} }}}}");
        let result = external_secrets_template::Template::parse("t", &text, &Default::default());
        assert!(result.is_err(), "{name} is listed as unsupported but parses");
    }
}
