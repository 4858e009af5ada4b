//! Flow control (`fail`), randomness (`rand*`, `uuidv4`), reflection, paths and URLs.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use rand::Rng as _;

use super::{Call, FResult, FuncDef, FuncError, fail, fixed};
use crate::value::Value;

pub(crate) const FUNCS: &[FuncDef] = &[
    fixed("fail", 1, fail_fn),
    fixed("hello", 0, hello),
    fixed("uuidv4", 0, uuidv4),
    fixed("randAlphaNum", 1, rand_alpha_num),
    fixed("randAlpha", 1, rand_alpha),
    fixed("randNumeric", 1, rand_numeric),
    fixed("randAscii", 1, rand_ascii),
    fixed("randBytes", 1, rand_bytes),
    fixed("randInt", 2, rand_int),
    fixed("typeOf", 1, type_of),
    fixed("typeIs", 2, type_is),
    fixed("typeIsLike", 2, type_is_like),
    fixed("kindOf", 1, kind_of),
    fixed("kindIs", 2, kind_is),
    fixed("base", 1, base),
    fixed("dir", 1, dir),
    fixed("clean", 1, clean),
    fixed("ext", 1, ext),
    fixed("isAbs", 1, is_abs),
    fixed("osBase", 1, base),
    fixed("osDir", 1, dir),
    fixed("osClean", 1, clean),
    fixed("osExt", 1, ext),
    fixed("osIsAbs", 1, is_abs),
    fixed("urlParse", 1, url_parse),
    fixed("urlJoin", 1, url_join),
];

fn fail_fn(c: &mut Call<'_>) -> FResult {
    Err(FuncError::Fail(c.str(0)?.into_owned()))
}

fn hello(_: &mut Call<'_>) -> FResult {
    Ok(Value::from("Hello!".to_owned()))
}

fn uuidv4(_: &mut Call<'_>) -> FResult {
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        let _ = write!(out, "{byte:02x}");
    }
    Ok(Value::from(out))
}

fn random_from(c: &Call<'_>, alphabet: &[u8]) -> FResult {
    let count = c.int(0)?;
    if count <= 0 {
        return Ok(Value::from(String::new()));
    }
    c.check_len(usize::try_from(count).unwrap_or(usize::MAX))?;
    let mut rng = rand::rng();
    let out: String = (0..count).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect();
    Ok(Value::from(out))
}

const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const DIGITS: &[u8] = b"0123456789";

fn rand_alpha_num(c: &mut Call<'_>) -> FResult {
    random_from(c, ALNUM)
}

fn rand_alpha(c: &mut Call<'_>) -> FResult {
    random_from(c, LETTERS)
}

fn rand_numeric(c: &mut Call<'_>) -> FResult {
    random_from(c, DIGITS)
}

fn rand_ascii(c: &mut Call<'_>) -> FResult {
    let printable: Vec<u8> = (32u8..127).collect();
    random_from(c, &printable)
}

fn rand_bytes(c: &mut Call<'_>) -> FResult {
    let count = c.int(0)?;
    if count < 0 {
        return Err(fail("negative count"));
    }
    c.check_len(usize::try_from(count).unwrap_or(usize::MAX).saturating_mul(2))?;
    let mut bytes = vec![0u8; count as usize];
    rand::rng().fill(bytes.as_mut_slice());
    Ok(Value::from(base64::engine::general_purpose::STANDARD.encode(bytes)))
}

fn rand_int(c: &mut Call<'_>) -> FResult {
    let min = c.int(0)?;
    let max = c.int(1)?;
    if max <= min {
        return Err(fail("invalid argument to Intn"));
    }
    Ok(Value::Int(rand::rng().random_range(min..max)))
}

fn type_of(c: &mut Call<'_>) -> FResult {
    Ok(Value::from(c.value(0).type_name().to_owned()))
}

fn type_is(c: &mut Call<'_>) -> FResult {
    let target = c.str(0)?;
    let target: &str = &target;
    Ok(Value::Bool(target == c.value(1).type_name()))
}

fn type_is_like(c: &mut Call<'_>) -> FResult {
    let target = c.str(0)?;
    let target: &str = &target;
    let t = c.value(1).type_name();
    Ok(Value::Bool(target == t || t.strip_prefix('*') == Some(target)))
}

fn kind_of(c: &mut Call<'_>) -> FResult {
    Ok(Value::from(c.value(0).kind_name().to_owned()))
}

fn kind_is(c: &mut Call<'_>) -> FResult {
    let target = c.str(0)?;
    let target: &str = &target;
    Ok(Value::Bool(target == c.value(1).kind_name()))
}

/// Go's `path.Clean`.
pub(crate) fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let p = path.as_bytes();
    let rooted = p[0] == b'/';
    let n = p.len();
    let mut out: Vec<u8> = Vec::with_capacity(n);
    let (mut r, mut dotdot) = (0, 0);
    if rooted {
        out.push(b'/');
        r = 1;
        dotdot = 1;
    }
    while r < n {
        if p[r] == b'/' || (p[r] == b'.' && (r + 1 == n || p[r + 1] == b'/')) {
            r += 1;
        } else if p[r] == b'.' && p.get(r + 1) == Some(&b'.') && (r + 2 == n || p[r + 2] == b'/') {
            r += 2;
            if out.len() > dotdot {
                // Back up over the last element and the separator before it.
                let mut removed = out.pop();
                while out.len() > dotdot && removed != Some(b'/') {
                    removed = out.pop();
                }
            } else if !rooted {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(b"..");
                dotdot = out.len();
            }
        } else {
            if (rooted && out.len() != 1) || (!rooted && !out.is_empty()) {
                out.push(b'/');
            }
            while r < n && p[r] != b'/' {
                out.push(p[r]);
                r += 1;
            }
        }
    }
    if out.is_empty() {
        return ".".to_owned();
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base(c: &mut Call<'_>) -> FResult {
    let path = c.str(0)?;
    let path: &str = &path;
    if path.is_empty() {
        return Ok(Value::from(".".to_owned()));
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(Value::from("/".to_owned()));
    }
    let base = trimmed.rsplit('/').next().unwrap_or(trimmed);
    Ok(Value::from(base.to_owned()))
}

fn dir(c: &mut Call<'_>) -> FResult {
    let path = c.str(0)?;
    let path: &str = &path;
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "",
    };
    Ok(Value::from(clean_path(dir)))
}

fn clean(c: &mut Call<'_>) -> FResult {
    Ok(Value::from(clean_path(&c.str(0)?)))
}

fn ext(c: &mut Call<'_>) -> FResult {
    let path = c.str(0)?;
    let path: &str = &path;
    for (i, b) in path.bytes().enumerate().rev() {
        if b == b'/' {
            break;
        }
        if b == b'.' {
            return Ok(Value::from(path[i..].to_owned()));
        }
    }
    Ok(Value::from(String::new()))
}

fn is_abs(c: &mut Call<'_>) -> FResult {
    Ok(Value::Bool(c.str(0)?.starts_with('/')))
}

/// Go's `url.PathUnescape`-style decoding (`+` stays `+`); `None` on a bad escape.
fn unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encode {
    Path,
    Host,
    UserPassword,
    Fragment,
}

/// Go's `url.shouldEscape`.
fn should_escape(c: u8, mode: Encode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if mode == Encode::Host && b"!$&'()*+,;=:[]<>\"".contains(&c) {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => return false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => {
            return match mode {
                Encode::Path => c == b'?',
                Encode::UserPassword => matches!(c, b'@' | b'/' | b'?' | b':'),
                Encode::Fragment | Encode::Host => false,
            };
        }
        _ => {}
    }
    if mode == Encode::Fragment && matches!(c, b'!' | b'(' | b')' | b'*') {
        return false;
    }
    true
}

fn escape(s: &str, mode: Encode) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if should_escape(b, mode) {
            let _ = write!(out, "%{b:02X}");
        } else {
            out.push(b as char);
        }
    }
    out
}

#[derive(Default)]
struct Url {
    scheme: String,
    opaque: String,
    user: Option<(String, Option<String>)>,
    host: String,
    path: String,
    raw_query: String,
    fragment: String,
}

impl Url {
    fn userinfo(&self) -> String {
        match &self.user {
            None => String::new(),
            Some((name, password)) => {
                let mut s = escape(name, Encode::UserPassword);
                if let Some(p) = password {
                    s.push(':');
                    s.push_str(&escape(p, Encode::UserPassword));
                }
                s
            }
        }
    }

    fn hostname(&self) -> String {
        let host = &self.host;
        if let Some(rest) = host.strip_prefix('[') {
            return rest.split(']').next().unwrap_or("").to_owned();
        }
        match host.rfind(':') {
            Some(i) => host[..i].to_owned(),
            None => host.clone(),
        }
    }

    /// Go's `URL.String()`.
    fn to_url_string(&self) -> String {
        let mut out = String::new();
        if !self.scheme.is_empty() {
            out.push_str(&self.scheme);
            out.push(':');
        }
        if !self.opaque.is_empty() {
            out.push_str(&self.opaque);
        } else {
            if !self.scheme.is_empty() || !self.host.is_empty() || self.user.is_some() {
                if !self.host.is_empty() || !self.path.is_empty() || self.user.is_some() {
                    out.push_str("//");
                }
                if self.user.is_some() {
                    out.push_str(&self.userinfo());
                    out.push('@');
                }
                out.push_str(&escape(&self.host, Encode::Host));
            }
            let path = escape(&self.path, Encode::Path);
            if !path.is_empty() && !path.starts_with('/') && !self.host.is_empty() {
                out.push('/');
            }
            if out.is_empty() && path.split('/').next().is_some_and(|seg| seg.contains(':')) {
                out.push_str("./");
            }
            out.push_str(&path);
        }
        if !self.raw_query.is_empty() {
            out.push('?');
            out.push_str(&self.raw_query);
        }
        if !self.fragment.is_empty() {
            out.push('#');
            out.push_str(&escape(&self.fragment, Encode::Fragment));
        }
        out
    }
}

fn parse_userinfo(s: &str) -> Option<(String, Option<String>)> {
    match s.split_once(':') {
        Some((name, password)) => Some((unescape(name)?, Some(unescape(password)?))),
        None => Some((unescape(s)?, None)),
    }
}

/// Go's `url.Parse` for absolute and relative references (without host validation).
fn parse_url(raw: &str) -> Option<Url> {
    let mut u = Url::default();
    let (rest, fragment) = match raw.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (raw, None),
    };
    if let Some(f) = fragment {
        u.fragment = unescape(f)?;
    }
    if rest.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return None;
    }
    let mut rest = rest;
    // Scheme.
    for (i, ch) in rest.char_indices() {
        if ch.is_ascii_alphabetic() {
            continue;
        }
        if i > 0 && (ch.is_ascii_digit() || matches!(ch, '+' | '-' | '.')) {
            continue;
        }
        if ch == ':' {
            if i == 0 {
                return None;
            }
            u.scheme = rest[..i].to_ascii_lowercase();
            rest = &rest[i + 1..];
        }
        break;
    }
    if let Some((r, q)) = rest.split_once('?') {
        u.raw_query = q.to_owned();
        rest = r;
    }
    if !rest.starts_with('/') {
        if !u.scheme.is_empty() {
            u.opaque = rest.to_owned();
            return Some(u);
        }
        if rest.split('/').next().is_some_and(|seg| seg.contains(':')) {
            return None;
        }
    }
    if (!u.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let after = &rest[2..];
        let (authority, path) = match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        };
        match authority.rfind('@') {
            Some(i) => {
                u.user = Some(parse_userinfo(&authority[..i])?);
                u.host = unescape(&authority[i + 1..])?;
            }
            None => u.host = unescape(authority)?,
        }
        rest = path;
    }
    u.path = unescape(rest)?;
    Some(u)
}

fn url_parse(c: &mut Call<'_>) -> FResult {
    let u = parse_url(&c.str(0)?).ok_or_else(|| fail("unable to parse url"))?;
    let mut d = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        d.insert(k.to_owned(), Value::from(v));
    };
    put("scheme", u.scheme.clone());
    put("host", u.host.clone());
    put("hostname", u.hostname());
    put("path", u.path.clone());
    put("query", u.raw_query.clone());
    put("opaque", u.opaque.clone());
    put("fragment", u.fragment.clone());
    put("userinfo", u.userinfo());
    Ok(Value::map(d))
}

fn url_join(c: &mut Call<'_>) -> FResult {
    let m = c.map(0)?;
    let m = m.borrow();
    let get = |k: &str| -> Result<String, FuncError> {
        match m.entries.get(k) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.to_str_lossy().into_owned()),
            Some(_) => Err(fail("unable to parse dictionary value: expected string")),
        }
    };
    let mut u = Url {
        scheme: get("scheme")?,
        host: get("host")?,
        path: get("path")?,
        raw_query: get("query")?,
        opaque: get("opaque")?,
        fragment: get("fragment")?,
        user: None,
    };
    let userinfo = get("userinfo")?;
    if !userinfo.is_empty() {
        u.user = Some(parse_userinfo(&userinfo).ok_or_else(|| fail("unable to parse url userinfo"))?);
    }
    Ok(Value::from(u.to_url_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_like_go() {
        for (input, want) in [
            ("", "."),
            ("a/b/../c", "a/c"),
            ("/../a", "/a"),
            ("../../a", "../../a"),
            ("a//b/./c/", "a/b/c"),
            ("/", "/"),
            ("a/..", "."),
        ] {
            assert_eq!(clean_path(input), want, "{input}");
        }
    }

    #[test]
    fn url_round_trip() {
        let Some(u) = parse_url("https://user:p%40ss@example.com:8443/a b/c?x=1#frag") else { unreachable!("valid") };
        assert_eq!(u.scheme, "https");
        assert_eq!(u.host, "example.com:8443");
        assert_eq!(u.hostname(), "example.com");
        assert_eq!(u.path, "/a b/c");
        assert_eq!(u.userinfo(), "user:p%40ss");
        assert_eq!(u.to_url_string(), "https://user:p%40ss@example.com:8443/a%20b/c?x=1#frag");
    }
}
