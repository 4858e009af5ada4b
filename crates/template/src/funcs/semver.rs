//! Sprig's `semver` and `semverCompare` over Masterminds/semver v3.4.0 (the version ESO v2.9.0 builds with), whose
//! version syntax (`v` prefix, missing minor/patch, leading zeros allowed) and constraint grammar (`=` `!=` `>`
//! `<` `>=` `<=` `~` `~>` `^`, wildcards `x X *`, hyphen ranges, `,`/space for AND, `||` for OR, prereleases
//! matched only by constraints that name one) differ from Cargo's. Matching follows that library rule by rule.
//!
//! Errors name the problem, never the version or constraint text.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

use super::{Call, FResult, FuncDef, FuncError, fail, fixed};
use crate::value::Value;

pub(crate) const FUNCS: &[FuncDef] = &[fixed("semver", 1, semver), fixed("semverCompare", 2, semver_compare)];

/// Go's `\s` (ASCII only).
const WS: &str = r"[\t\n\f\r ]";
const LOOSE_VERSION: &str =
    r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const CONSTRAINT_VERSION: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

struct Patterns {
    version: Regex,
    constraint: Regex,
    range: Regex,
    find: Regex,
    valid: Regex,
}

static PATTERNS: LazyLock<Option<Patterns>> = LazyLock::new(|| {
    let cv = CONSTRAINT_VERSION;
    Some(Patterns {
        version: Regex::new(&format!("^{LOOSE_VERSION}$")).ok()?,
        constraint: Regex::new(&format!(r"^{WS}*({OPS}){WS}*({cv}){WS}*$")).ok()?,
        range: Regex::new(&format!(r"{WS}*({cv}){WS}+-{WS}+({cv}){WS}*")).ok()?,
        find: Regex::new(&format!(r"({OPS}){WS}*({cv})")).ok()?,
        valid: Regex::new(&format!(r"^({WS}*({OPS}){WS}*({cv}){WS}*)((?:{WS}+|,{WS}*)({OPS}){WS}*({cv}){WS}*)*$"))
            .ok()?,
    })
});

fn patterns() -> Result<&'static Patterns, FuncError> {
    PATTERNS.as_ref().ok_or_else(|| fail("semver patterns failed to compile"))
}

/// A parsed version (Masterminds' `Version`).
#[derive(Clone)]
struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    metadata: String,
}

/// Masterminds' `NewVersion` with `CoerceNewVersion` (its default).
fn parse_version(text: &str) -> Result<Version, &'static str> {
    let p = patterns().map_err(|_| "invalid semantic version")?;
    let m = p.version.captures(text).ok_or("invalid semantic version")?;
    let segment = |i: usize| -> Result<u64, &'static str> {
        match m.get(i) {
            None => Ok(0),
            Some(s) => s.as_str().trim_start_matches('.').parse().map_err(|_| "error parsing version segment"),
        }
    };
    let version = Version {
        major: segment(1)?,
        minor: segment(2)?,
        patch: segment(3)?,
        pre: m.get(5).map_or("", |s| s.as_str()).to_owned(),
        metadata: m.get(8).map_or("", |s| s.as_str()).to_owned(),
    };
    for part in version.pre.split('.').filter(|_| !version.pre.is_empty()) {
        if part.is_empty() {
            return Err("invalid prerelease string");
        }
        if part.bytes().all(|b| b.is_ascii_digit()) && part.len() > 1 && part.starts_with('0') {
            return Err("version segment starts with 0");
        }
    }
    if !version.metadata.is_empty() && version.metadata.split('.').any(str::is_empty) {
        return Err("invalid metadata string");
    }
    Ok(version)
}

fn compare_pre_part(s: &str, o: &str) -> Ordering {
    if s == o {
        return Ordering::Equal;
    }
    if s.is_empty() {
        return Ordering::Less;
    }
    if o.is_empty() {
        return Ordering::Greater;
    }
    match (s.parse::<u64>(), o.parse::<u64>()) {
        (Err(_), Err(_)) => {
            if s > o {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Ok(a), Ok(b)) => {
            if a > b {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
    }
}

fn compare_prerelease(s: &str, o: &str) -> Ordering {
    let (sp, op): (Vec<&str>, Vec<&str>) = (s.split('.').collect(), o.split('.').collect());
    for i in 0..sp.len().max(op.len()) {
        let d = compare_pre_part(sp.get(i).copied().unwrap_or(""), op.get(i).copied().unwrap_or(""));
        if d != Ordering::Equal {
            return d;
        }
    }
    Ordering::Equal
}

impl Version {
    fn compare(&self, o: &Version) -> Ordering {
        let by_numbers = (self.major, self.minor, self.patch).cmp(&(o.major, o.minor, o.patch));
        if by_numbers != Ordering::Equal {
            return by_numbers;
        }
        match (self.pre.is_empty(), o.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => compare_prerelease(&self.pre, &o.pre),
        }
    }
}

/// One parsed constraint: the operator, the version (wildcards as zeros) and which parts were wildcards.
struct Constraint {
    op: String,
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

fn parse_constraint(text: &str) -> Result<Constraint, &'static str> {
    let p = patterns().map_err(|_| "improper constraint")?;
    let m = p.constraint.captures(text).ok_or("improper constraint")?;
    let group = |i: usize| m.get(i).map_or("", |g| g.as_str());
    let (major, minor, patch, pre) = (group(3), group(4), group(5), group(6));
    let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
    let version = if is_x(major) || major.is_empty() {
        dirty = true;
        format!("0.0.0{pre}")
    } else if is_x(minor.trim_start_matches('.')) || minor.is_empty() {
        (dirty, minor_dirty) = (true, true);
        format!("{major}.0.0{pre}")
    } else if is_x(patch.trim_start_matches('.')) || patch.is_empty() {
        (dirty, patch_dirty) = (true, true);
        format!("{major}{minor}.0{pre}")
    } else {
        group(2).to_owned()
    };
    let con = parse_version(&version).map_err(|_| "constraint parser error")?;
    Ok(Constraint { op: group(1).to_owned(), con, dirty, minor_dirty, patch_dirty })
}

impl Constraint {
    fn check(&self, v: &Version, include_pre: bool) -> bool {
        if !v.pre.is_empty() && !include_pre {
            return false;
        }
        let c = &self.con;
        match self.op.as_str() {
            "" | "=" => {
                if self.dirty {
                    self.tilde(v)
                } else {
                    v.compare(c) == Ordering::Equal
                }
            }
            "!=" => {
                if self.dirty {
                    if c.major != v.major {
                        return true;
                    }
                    if c.minor != v.minor && !self.minor_dirty {
                        return true;
                    } else if self.minor_dirty {
                        return false;
                    } else if c.patch != v.patch && !self.patch_dirty {
                        return true;
                    } else if self.patch_dirty {
                        return (!v.pre.is_empty() || !c.pre.is_empty())
                            && compare_prerelease(&v.pre, &c.pre) != Ordering::Equal;
                    }
                }
                v.compare(c) != Ordering::Equal
            }
            ">" => {
                if !self.dirty {
                    return v.compare(c) == Ordering::Greater;
                }
                if v.major != c.major {
                    return v.major > c.major;
                }
                if self.minor_dirty {
                    return false;
                }
                if self.patch_dirty {
                    return v.minor > c.minor;
                }
                v.compare(c) == Ordering::Greater
            }
            "<" => v.compare(c) == Ordering::Less,
            ">=" | "=>" => v.compare(c) != Ordering::Less,
            "<=" | "=<" => {
                if !self.dirty {
                    return v.compare(c) != Ordering::Greater;
                }
                !(v.major > c.major || (v.major == c.major && v.minor > c.minor && !self.minor_dirty))
            }
            "~" | "~>" => self.tilde(v),
            "^" => self.caret(v),
            _ => false,
        }
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        v.major == c.major && (v.minor == c.minor || self.minor_dirty)
    }

    fn caret(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        if v.minor > 0 {
            return false;
        }
        c.patch == v.patch
    }
}

/// Masterminds' `NewConstraint` then `Check`.
fn constraint_matches(constraint: &str, version: &Version) -> Result<bool, &'static str> {
    let p = patterns().map_err(|_| "improper constraint")?;
    // Hyphen ranges become ">= a, <= b ".
    let mut rewritten = constraint.to_owned();
    for m in p.range.captures_iter(constraint) {
        let (Some(whole), Some(from), Some(to)) = (m.get(0), m.get(1), m.get(11)) else { continue };
        rewritten = rewritten.replacen(whole.as_str(), &format!(">= {}, <= {} ", from.as_str(), to.as_str()), 1);
    }
    let mut any = false;
    for alternative in rewritten.split("||") {
        if !p.valid.is_match(alternative) {
            return Err("improper constraint");
        }
        let mut parts: Vec<&str> = p.find.find_iter(alternative).map(|m| m.as_str()).collect();
        if parts.is_empty() {
            parts.push(alternative);
        }
        let mut constraints = Vec::with_capacity(parts.len());
        for part in parts {
            constraints.push(parse_constraint(part)?);
        }
        let include_pre = constraints.iter().any(|c| !c.con.pre.is_empty());
        any = any || constraints.iter().all(|c| c.check(version, include_pre));
    }
    Ok(any)
}

/// `semverCompare constraint version`.
fn semver_compare(c: &mut Call<'_>) -> FResult {
    let version = parse_version(&c.str(1)?).map_err(fail)?;
    constraint_matches(&c.str(0)?, &version).map(Value::Bool).map_err(fail)
}

/// `semver version`: Go returns a `*semver.Version` whose methods templates call (`.Major`); ours is a map with
/// the same names (`Major`, `Minor`, `Patch` as integers, `Prerelease`, `Metadata`, `Original`).
fn semver(c: &mut Call<'_>) -> FResult {
    let original = c.str(0)?.into_owned();
    let v = parse_version(&original).map_err(fail)?;
    let to_int = |n: u64| Value::Int(i64::try_from(n).unwrap_or(i64::MAX));
    Ok(Value::map(BTreeMap::from([
        ("Major".to_owned(), to_int(v.major)),
        ("Minor".to_owned(), to_int(v.minor)),
        ("Patch".to_owned(), to_int(v.patch)),
        ("Prerelease".to_owned(), Value::from(v.pre)),
        ("Metadata".to_owned(), Value::from(v.metadata)),
        ("Original".to_owned(), Value::from(original)),
    ])))
}
