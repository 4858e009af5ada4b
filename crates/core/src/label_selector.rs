//! Label selectors (`matchLabels` + `matchExpressions`) with the rules of Kubernetes' `LabelSelectorAsSelector`:
//! a selector that Go would refuse (an unknown operator, `In` without values, `Exists` with values, a malformed
//! key or value) is an error here too, with the reason; an empty selector matches everything.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Why a label selector cannot be used. The messages follow apimachinery's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSelector {
    /// `matchExpressions[].operator` is none of `In`, `NotIn`, `Exists`, `DoesNotExist`.
    #[error("{0:?} is not a valid label selector operator")]
    Operator(String),
    /// `In`/`NotIn` without values.
    #[error("key {0:?}: for 'in', 'notin' operators, values set can't be empty")]
    EmptyValues(String),
    /// `Exists`/`DoesNotExist` with values.
    #[error("key {0:?}: values set must be empty for exists and does not exist")]
    UnexpectedValues(String),
    /// A key that is not a qualified name (`[prefix/]name`).
    #[error("invalid label key {0:?}: must be a qualified name ([DNS subdomain/]name of at most 63 characters)")]
    Key(String),
    /// A value longer than 63 characters or with other characters than alphanumerics, `-`, `_`, `.`.
    #[error(
        "invalid label value {0:?}: must be at most 63 characters, alphanumerics, '-', '_' or '.', and \
             begin and end with an alphanumeric"
    )]
    Value(String),
}

/// One requirement of a selector.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::In(k, values) => labels.get(k).is_some_and(|v| values.contains(v)),
            Requirement::NotIn(k, values) => labels.get(k).is_none_or(|v| !values.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

/// A validated label selector: all requirements must hold.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// Validates `selector` as Kubernetes does.
    pub fn parse(selector: &LabelSelector) -> Result<Self, InvalidSelector> {
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            check_key(key)?;
            check_value(value)?;
            requirements.push(Requirement::Equals(key.clone(), value.clone()));
        }
        for expression in selector.match_expressions.iter().flatten() {
            let key = expression.key.clone();
            check_key(&key)?;
            let values: BTreeSet<String> = expression.values.iter().flatten().cloned().collect();
            for value in &values {
                check_value(value)?;
            }
            let requirement = match expression.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => return Err(InvalidSelector::EmptyValues(key)),
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err(InvalidSelector::UnexpectedValues(key));
                }
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::DoesNotExist(key),
                other => return Err(InvalidSelector::Operator(other.to_string())),
            };
            requirements.push(requirement);
        }
        Ok(Self { requirements })
    }

    /// A selector of one `key=value` requirement.
    pub fn equals(key: &str, value: &str) -> Self {
        Self { requirements: vec![Requirement::Equals(key.to_string(), value.to_string())] }
    }

    /// Whether `labels` satisfy every requirement (an empty selector matches everything).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

/// Whether `labels` satisfy `selector`; an invalid selector matches nothing.
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    Selector::parse(selector).is_ok_and(|s| s.matches(labels))
}

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?` of at most 63 characters (`allow_empty`: or empty).
fn is_label_name(s: &str, allow_empty: bool) -> bool {
    if s.is_empty() {
        return allow_empty;
    }
    let bytes = s.as_bytes();
    let edge = |b: &u8| b.is_ascii_alphanumeric();
    s.len() <= 63
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A lower-case DNS-1123 subdomain of at most 253 characters.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|part| {
            let bytes = part.as_bytes();
            let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
            !part.is_empty()
                && bytes.first().is_some_and(edge)
                && bytes.last().is_some_and(edge)
                && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        })
}

fn check_key(key: &str) -> Result<(), InvalidSelector> {
    let valid = match key.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_label_name(name, false),
        None => is_label_name(key, false),
    };
    if valid { Ok(()) } else { Err(InvalidSelector::Key(key.to_string())) }
}

fn check_value(value: &str) -> Result<(), InvalidSelector> {
    if is_label_name(value, true) { Ok(()) } else { Err(InvalidSelector::Value(value.to_string())) }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn expression(key: &str, operator: &str, values: Option<&[&str]>) -> LabelSelector {
        LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: key.to_string(),
                operator: operator.to_string(),
                values: values.map(|v| v.iter().map(|s| s.to_string()).collect()),
            }]),
        }
    }

    #[test]
    fn match_labels_and_every_operator() {
        let team_a = labels(&[("team", "a"), ("env", "prod")]);
        let sel = LabelSelector {
            match_labels: Some(labels(&[("team", "a")])),
            ..expression("env", "In", Some(&["prod", "stage"]))
        };
        assert!(matches(&sel, &team_a));
        assert!(!matches(&sel, &labels(&[("team", "b"), ("env", "prod")])));
        assert!(matches(&expression("env", "NotIn", Some(&["dev"])), &team_a));
        assert!(matches(&expression("env", "NotIn", Some(&["dev"])), &labels(&[])), "NotIn holds without the key");
        assert!(matches(&expression("env", "Exists", None), &team_a));
        assert!(!matches(&expression("env", "DoesNotExist", None), &team_a));
        assert!(matches(&LabelSelector::default(), &labels(&[])), "an empty selector matches everything");
    }

    #[test]
    fn selectors_go_refuses_are_refused_with_the_reason() {
        let bad = |s: LabelSelector| Selector::parse(&s).expect_err("invalid");
        assert_eq!(bad(expression("env", "Equals", Some(&["x"]))), InvalidSelector::Operator("Equals".into()));
        assert_eq!(bad(expression("env", "In", Some(&[]))), InvalidSelector::EmptyValues("env".into()));
        assert_eq!(bad(expression("env", "NotIn", None)), InvalidSelector::EmptyValues("env".into()));
        assert_eq!(bad(expression("env", "Exists", Some(&["x"]))), InvalidSelector::UnexpectedValues("env".into()));
        assert_eq!(bad(expression("-env", "Exists", None)), InvalidSelector::Key("-env".into()));
        assert_eq!(bad(expression("Example.com/env", "Exists", None)), InvalidSelector::Key("Example.com/env".into()));
        let long = "v".repeat(64);
        assert_eq!(
            bad(LabelSelector { match_labels: Some(labels(&[("env", &long)])), match_expressions: None }),
            InvalidSelector::Value(long)
        );
        assert!(!matches(&expression("env", "Equals", Some(&["prod"])), &labels(&[("env", "prod")])));
        assert!(Selector::parse(&expression("kubernetes.io/metadata.name", "In", Some(&["a", "b"]))).is_ok());
        assert!(
            Selector::parse(&LabelSelector { match_labels: Some(labels(&[("k", "")])), match_expressions: None })
                .is_ok()
        );
    }
}
