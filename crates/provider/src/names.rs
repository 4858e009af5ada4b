//! Kubernetes name syntax (apimachinery's validation), for what goes into request paths and label selectors.

/// A DNS-1123 label: 1 to 63 of `[a-z0-9-]`, starting and ending with an alphanumeric (namespace names).
pub fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// A DNS-1123 subdomain: at most 253 characters of dot-separated DNS labels (Secret names).
pub fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.split('.').all(is_dns_label)
}

/// A label name or value: 1 to 63 of `[A-Za-z0-9-_.]`, starting and ending with an alphanumeric.
fn is_qualified_name_part(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// A label key: `[prefix/]name` with a DNS subdomain prefix.
pub fn is_label_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_qualified_name_part(name),
        None => is_qualified_name_part(key),
    }
}

/// A label value: empty, or like a label name.
pub fn is_label_value(value: &str) -> bool {
    value.is_empty() || is_qualified_name_part(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_dns_subdomains() {
        for ok in ["db", "db-creds", "tls.example.com", "a", "0x1"] {
            assert!(is_dns_subdomain(ok), "{ok}");
        }
        let too_long = "a".repeat(254);
        for bad in
            ["", "Db", "db/creds", "..", ".", "../x", "db_creds", "-db", "db-", "a..b", "db?x", too_long.as_str()]
        {
            assert!(!is_dns_subdomain(bad), "{bad}");
        }
    }

    #[test]
    fn namespaces_are_dns_labels() {
        assert!(is_dns_label("default"));
        assert!(!is_dns_label("a.b"));
        assert!(!is_dns_label(&"a".repeat(64)));
    }

    #[test]
    fn label_keys_and_values() {
        for ok in ["env", "app.kubernetes.io/name", "example.com/Some_Key", "A"] {
            assert!(is_label_key(ok), "{ok}");
        }
        for bad in ["", "/name", "Example.com/x", "a/b/c", "x=", "_x", "x,y"] {
            assert!(!is_label_key(bad), "{bad}");
        }
        for ok in ["", "prod", "v1.2_3-x"] {
            assert!(is_label_value(ok), "{ok}");
        }
        for bad in ["-x", "a,b", "a=b", "a b", "x!"] {
            assert!(!is_label_value(bad), "{bad}");
        }
    }
}
