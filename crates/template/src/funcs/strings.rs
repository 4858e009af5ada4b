//! Sprig's string functions and regular expressions.

use super::{Call, FResult, FuncDef, fail, fixed, ranged, string_list, strslice, strval, variadic};
use crate::value::{GoString, Value};

pub(crate) const FUNCS: &[FuncDef] = &[
    fixed("abbrev", 2, abbrev),
    fixed("trunc", 2, trunc),
    fixed("trim", 1, trim),
    fixed("upper", 1, upper),
    fixed("lower", 1, lower),
    fixed("title", 1, title),
    fixed("untitle", 1, untitle),
    fixed("substr", 3, substr),
    fixed("repeat", 2, repeat),
    fixed("trimall", 2, trim_all),
    fixed("trimAll", 2, trim_all),
    fixed("trimSuffix", 2, trim_suffix),
    fixed("trimPrefix", 2, trim_prefix),
    fixed("nospace", 1, nospace),
    fixed("initials", 1, initials),
    fixed("swapcase", 1, swapcase),
    fixed("snakecase", 1, snakecase),
    fixed("camelcase", 1, camelcase),
    fixed("kebabcase", 1, kebabcase),
    fixed("wrap", 2, wrap),
    fixed("wrapWith", 3, wrap_with),
    fixed("contains", 2, contains),
    fixed("hasPrefix", 2, has_prefix),
    fixed("hasSuffix", 2, has_suffix),
    variadic("quote", 0, quote),
    variadic("squote", 0, squote),
    variadic("cat", 0, cat),
    fixed("indent", 2, indent),
    fixed("nindent", 2, nindent),
    fixed("replace", 3, replace),
    fixed("plural", 3, plural),
    fixed("toString", 1, to_string),
    fixed("split", 2, split),
    fixed("splitList", 2, split_list),
    fixed("splitn", 3, splitn),
    fixed("toStrings", 1, to_strings),
    fixed("join", 2, join),
    fixed("sortAlpha", 1, sort_alpha),
    fixed("regexMatch", 2, regex_match),
    fixed("mustRegexMatch", 2, must_regex_match),
    fixed("regexFindAll", 3, regex_find_all),
    fixed("mustRegexFindAll", 3, regex_find_all),
    fixed("regexFind", 2, regex_find),
    fixed("mustRegexFind", 2, regex_find),
    fixed("regexReplaceAll", 3, regex_replace_all),
    fixed("mustRegexReplaceAll", 3, regex_replace_all),
    fixed("regexReplaceAllLiteral", 3, regex_replace_all_literal),
    fixed("mustRegexReplaceAllLiteral", 3, regex_replace_all_literal),
    fixed("regexSplit", 3, regex_split),
    fixed("mustRegexSplit", 3, regex_split),
    fixed("regexQuoteMeta", 1, regex_quote_meta),
    ranged("abbrevboth", 3, 3, abbrevboth),
    fixed("shuffle", 1, shuffle),
];

/// xstrings' `Shuffle`: the runes in a random order (invalid UTF-8 bytes read as U+FFFD, as Go's `[]rune` does).
fn shuffle(c: &mut Call<'_>) -> FResult {
    use rand::seq::SliceRandom as _;
    let mut runes: Vec<char> = c.str(0)?.chars().collect();
    runes.shuffle(&mut rand::rng());
    Ok(Value::from(runes.into_iter().collect::<String>()))
}

/// Go slices strings by byte; a cut inside a UTF-8 sequence leaves the partial sequence, as in Go.
fn byte_slice(s: &[u8], start: usize, end: usize) -> Option<Vec<u8>> {
    s.get(start..end).map(<[u8]>::to_vec)
}

/// The first index of `needle` in `hay` (Go's `strings.Index` over bytes).
pub(crate) fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Go's `strings.Replace(s, old, new, -1)` over bytes. An empty `old` inserts `new` before every rune and at the
/// end (invalid bytes are one rune each).
fn replace_bytes(src: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len());
    if old.is_empty() {
        for chunk in src.utf8_chunks() {
            for ch in chunk.valid().chars() {
                out.extend_from_slice(new);
                let mut tmp = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
            }
            for b in chunk.invalid() {
                out.extend_from_slice(new);
                out.push(*b);
            }
        }
        out.extend_from_slice(new);
        return out;
    }
    let mut rest = src;
    while let Some(i) = find_bytes(rest, old) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(new);
        rest = &rest[i + old.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// How many times `needle` (not empty) occurs in `hay` without overlapping.
fn count_bytes(hay: &[u8], needle: &[u8]) -> usize {
    let mut n = 0;
    let mut rest = hay;
    while let Some(i) = find_bytes(rest, needle) {
        n += 1;
        rest = &rest[i + needle.len()..];
    }
    n
}

/// Go's one-to-one `unicode.ToUpper`: characters whose upper case is several characters stay as they are.
fn to_upper_char(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

fn to_lower_char(c: char) -> char {
    let mut low = c.to_lowercase();
    match (low.next(), low.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

fn abbrev(c: &mut Call<'_>) -> FResult {
    let width = c.int(0)?;
    let s = c.bytes(1)?;
    if width < 4 || s.len() as i64 <= width {
        return Ok(Value::bytes(s));
    }
    let mut cut = byte_slice(s, 0, (width - 3) as usize).unwrap_or_default();
    cut.extend_from_slice(b"...");
    Ok(Value::bytes(cut))
}

/// goutils' `AbbreviateFull` (computed in i128 so that extreme widths cannot overflow).
fn abbrevboth(c: &mut Call<'_>) -> FResult {
    let left = i128::from(c.int(0)?);
    let max_width = i128::from(c.int(1)?);
    let s = c.bytes(2)?;
    let len = s.len() as i128;
    if max_width < 4 || left > 0 && max_width < 7 || s.is_empty() || len <= max_width {
        return Ok(Value::bytes(s));
    }
    let slice =
        |a: i128, b: i128| byte_slice(s, a.clamp(0, len) as usize, b.clamp(0, len) as usize).unwrap_or_default();
    let mut offset = left.clamp(0, len);
    if len - offset < max_width - 3 {
        offset = len - (max_width - 3);
    }
    if offset <= 4 {
        return Ok(Value::bytes([slice(0, max_width - 3).as_slice(), b"..."].concat()));
    }
    if offset + max_width - 3 < len {
        let rest = slice(offset, len);
        let inner_width = max_width - 3;
        let inner = if rest.len() as i128 <= inner_width {
            rest
        } else {
            let cut = byte_slice(&rest, 0, (inner_width - 3).clamp(0, len) as usize).unwrap_or_default();
            [cut.as_slice(), b"..."].concat()
        };
        return Ok(Value::bytes([b"...".as_slice(), &inner].concat()));
    }
    Ok(Value::bytes([b"...".as_slice(), &slice(len - (max_width - 3), len)].concat()))
}

fn trunc(c: &mut Call<'_>) -> FResult {
    let n = c.int(0)?;
    let s = c.bytes(1)?;
    let len = s.len() as i64;
    let out = if n < 0 && len + n > 0 {
        byte_slice(s, (len + n) as usize, s.len())
    } else if n >= 0 && len > n {
        byte_slice(s, 0, n as usize)
    } else {
        Some(s.to_vec())
    };
    Ok(Value::bytes(out.unwrap_or_default()))
}

/// The first rune of `s` and its length in bytes; an invalid byte reads as U+FFFD of length 1, as in Go.
fn first_rune(s: &[u8]) -> Option<(char, usize)> {
    let chunk = s.utf8_chunks().next()?;
    match chunk.valid().chars().next() {
        Some(ch) => Some((ch, ch.len_utf8())),
        None => Some(('\u{fffd}', 1)),
    }
}

/// The last rune of `s` and its length in bytes (see [`first_rune`]).
fn last_rune(s: &[u8]) -> Option<(char, usize)> {
    if s.is_empty() {
        return None;
    }
    for len in 1..=4.min(s.len()) {
        if let Ok(text) = std::str::from_utf8(&s[s.len() - len..])
            && let Some(ch) = text.chars().next()
            && ch.len_utf8() == len
        {
            return Some((ch, len));
        }
    }
    Some(('\u{fffd}', 1))
}

/// Go's `strings.TrimFunc` over bytes: runes matching `cut` removed from both ends, the rest kept byte for byte.
fn trim_runes(s: &[u8], cut: impl Fn(char) -> bool) -> &[u8] {
    let mut start = 0;
    while let Some((ch, len)) = first_rune(&s[start..]) {
        if !cut(ch) {
            break;
        }
        start += len;
    }
    let mut end = s.len();
    while let Some((ch, len)) = last_rune(&s[start..end]) {
        if !cut(ch) {
            break;
        }
        end -= len;
    }
    &s[start..end]
}

fn trim(c: &mut Call<'_>) -> FResult {
    Ok(Value::bytes(trim_runes(c.bytes(0)?, char::is_whitespace)))
}

fn upper(c: &mut Call<'_>) -> FResult {
    Ok(Value::from(c.str(0)?.chars().map(to_upper_char).collect::<String>()))
}

fn lower(c: &mut Call<'_>) -> FResult {
    Ok(Value::from(c.str(0)?.chars().map(to_lower_char).collect::<String>()))
}

/// Go's `strings.Title` word separators.
fn is_title_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphabetic() || c.is_numeric() {
        return false;
    }
    c.is_whitespace()
}

fn title(c: &mut Call<'_>) -> FResult {
    let mut prev = ' ';
    let out: String = c
        .str(0)?
        .chars()
        .map(|ch| {
            let mapped = if is_title_separator(prev) { to_upper_char(ch) } else { ch };
            prev = ch;
            mapped
        })
        .collect();
    Ok(Value::from(out))
}

fn untitle(c: &mut Call<'_>) -> FResult {
    let mut next = true;
    let out: String = c
        .str(0)?
        .chars()
        .map(|ch| {
            if ch.is_whitespace() {
                next = true;
                ch
            } else if next {
                next = false;
                to_lower_char(ch)
            } else {
                ch
            }
        })
        .collect();
    Ok(Value::from(out))
}

fn substr(c: &mut Call<'_>) -> FResult {
    let start = c.int(0)?;
    let end = c.int(1)?;
    let s = c.bytes(2)?;
    let len = s.len() as i64;
    let out = if start < 0 {
        if end < 0 || end > len { None } else { byte_slice(s, 0, end as usize) }
    } else if end < 0 || end > len {
        if start > len { None } else { byte_slice(s, start as usize, s.len()) }
    } else if start > end {
        None
    } else {
        byte_slice(s, start as usize, end as usize)
    };
    out.map(Value::bytes).ok_or_else(|| fail("runtime error: slice bounds out of range"))
}

fn repeat(c: &mut Call<'_>) -> FResult {
    let count = c.int(0)?;
    let s = c.bytes(1)?;
    if count < 0 {
        return Err(fail("strings: negative Repeat count"));
    }
    let total = (s.len() as u64).saturating_mul(count as u64);
    c.check_len(usize::try_from(total).unwrap_or(usize::MAX))?;
    Ok(Value::bytes(s.repeat(count as usize)))
}

fn trim_all(c: &mut Call<'_>) -> FResult {
    let cutset = c.str(0)?;
    Ok(Value::bytes(trim_runes(c.bytes(1)?, |ch| cutset.contains(ch))))
}

fn trim_suffix(c: &mut Call<'_>) -> FResult {
    let suffix = c.bytes(0)?;
    let s = c.bytes(1)?;
    Ok(Value::bytes(s.strip_suffix(suffix).unwrap_or(s)))
}

fn trim_prefix(c: &mut Call<'_>) -> FResult {
    let prefix = c.bytes(0)?;
    let s = c.bytes(1)?;
    Ok(Value::bytes(s.strip_prefix(prefix).unwrap_or(s)))
}

fn nospace(c: &mut Call<'_>) -> FResult {
    Ok(Value::from(c.str(0)?.chars().filter(|ch| !ch.is_whitespace()).collect::<String>()))
}

fn initials(c: &mut Call<'_>) -> FResult {
    let mut gap = true;
    let mut out = String::new();
    for ch in c.str(0)?.chars() {
        if ch.is_whitespace() {
            gap = true;
        } else if gap {
            out.push(ch);
            gap = false;
        }
    }
    Ok(Value::from(out))
}

/// goutils' `SwapCase` (Go's title case of a letter is its upper case for the letters that matter here).
fn swapcase(c: &mut Call<'_>) -> FResult {
    let out: String = c
        .str(0)?
        .chars()
        .map(|ch| {
            if ch.is_uppercase() {
                to_lower_char(ch)
            } else if ch.is_lowercase() {
                to_upper_char(ch)
            } else {
                ch
            }
        })
        .collect();
    Ok(Value::from(out))
}

/// xstrings' word kinds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum WordKind {
    Connector,
    Punct,
    Upper,
    Alphabet,
    Number,
    Other,
}

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || c.is_whitespace()
}

fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation() && !is_connector(c)
}

/// Splits a string into xstrings' words: runs of connectors, punctuation, numbers, lower-case letters, and
/// upper-case words ("HTTPServer" → "HTTP", "Server").
fn words(s: &str) -> Vec<(WordKind, String)> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let kind;
        if is_connector(c) {
            kind = WordKind::Connector;
            while i < chars.len() && is_connector(chars[i]) {
                i += 1;
            }
        } else if is_punct(c) {
            kind = WordKind::Punct;
            while i < chars.len() && is_punct(chars[i]) {
                i += 1;
            }
        } else if c.is_uppercase() {
            kind = WordKind::Upper;
            i += 1;
            if i < chars.len() && chars[i].is_uppercase() {
                while i < chars.len() && chars[i].is_uppercase() {
                    i += 1;
                }
                // "HTTPServer": the last upper-case letter starts the next word.
                if i < chars.len() && chars[i].is_alphabetic() {
                    i -= 1;
                }
            } else {
                while i < chars.len() && chars[i].is_alphabetic() && !chars[i].is_uppercase() {
                    i += 1;
                }
            }
        } else if c.is_alphabetic() {
            kind = WordKind::Alphabet;
            while i < chars.len() && chars[i].is_alphabetic() && !chars[i].is_uppercase() {
                i += 1;
            }
        } else if c.is_numeric() {
            kind = WordKind::Number;
            while i < chars.len() && chars[i].is_numeric() {
                i += 1;
            }
        } else {
            kind = WordKind::Other;
            i += 1;
            while i < chars.len()
                && !(is_connector(chars[i]) || chars[i].is_alphabetic() || chars[i].is_numeric() || is_punct(chars[i]))
            {
                i += 1;
            }
        }
        out.push((kind, chars[start..i].iter().collect()));
    }
    out
}

/// xstrings' `ToSnakeCase` / `ToKebabCase`: words lower-cased and joined by the connector. A number sticks to the
/// word before it when an upper-case word follows ("Bld4Floor" → "bld4_floor"), and starts a new word with the
/// letters after it otherwise ("HTTP2xx" → "http_2xx").
fn lower_words(s: &str, connector: char) -> String {
    let words = words(s);
    let mut out = String::new();
    let lower = |w: &str| -> String { w.chars().map(to_lower_char).collect() };
    let mut i = 0;
    let mut need_connector = false;
    while i < words.len() {
        let (kind, word) = &words[i];
        match kind {
            WordKind::Connector => {
                if !out.is_empty() || i == 0 {
                    out.extend(word.chars().map(|_| connector));
                }
                need_connector = false;
                i += 1;
            }
            WordKind::Punct => {
                out.push_str(word);
                need_connector = false;
                i += 1;
            }
            WordKind::Number => {
                let next = words.get(i + 1).map(|(k, _)| *k);
                match next {
                    Some(WordKind::Alphabet) => {
                        // A number followed by lower-case letters: a word of its own, glued to what follows.
                        if need_connector {
                            out.push(connector);
                        }
                        while let Some((k, w)) = words.get(i) {
                            if !matches!(k, WordKind::Number | WordKind::Alphabet) {
                                break;
                            }
                            out.push_str(&lower(w));
                            i += 1;
                        }
                        need_connector = true;
                    }
                    _ => {
                        // Otherwise it belongs to the word before.
                        out.push_str(word);
                        need_connector = true;
                        i += 1;
                    }
                }
            }
            _ => {
                if need_connector {
                    out.push(connector);
                }
                out.push_str(&lower(word));
                need_connector = true;
                i += 1;
            }
        }
    }
    out
}

fn snakecase(c: &mut Call<'_>) -> FResult {
    Ok(Value::from(lower_words(&c.str(0)?, '_')))
}

fn kebabcase(c: &mut Call<'_>) -> FResult {
    Ok(Value::from(lower_words(&c.str(0)?, '-')))
}

/// xstrings' `ToPascalCase` (Sprig's `camelcase`): connectors removed, the letter after one upper-cased, leading
/// connectors kept, runs of upper case after an initial capital lowered ("HTTP_SERVER" → "HttpServer").
fn camelcase(c: &mut Call<'_>) -> FResult {
    let s = c.str(0)?;
    let s: &str = &s;
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    let mut r0 = None;
    let mut first_upper = false;
    // Leading connectors appear in the output.
    for ch in chars.by_ref() {
        if !is_connector(ch) {
            first_upper = ch.is_uppercase();
            r0 = Some(to_upper_char(ch));
            break;
        }
        out.push(ch);
    }
    let Some(mut r0) = r0 else { return Ok(Value::from(out)) };
    for ch in chars {
        let r1 = r0;
        r0 = ch;
        if is_connector(r0) && is_connector(r1) {
            out.push(r1);
            continue;
        }
        if is_connector(r1) {
            first_upper = r0.is_uppercase();
            r0 = to_upper_char(r0);
        } else {
            if first_upper {
                if r0.is_uppercase() {
                    r0 = to_lower_char(r0);
                } else {
                    first_upper = false;
                }
            }
            out.push(r1);
        }
    }
    out.push(r0);
    Ok(Value::from(out))
}

/// goutils' `WrapCustom` (byte based, long words are not broken).
fn wrap_custom(s: &str, width: i64, newline: &str) -> String {
    if s.is_empty() {
        return String::new();
    }
    let newline = if newline.is_empty() { "\n" } else { newline };
    let width = width.max(1) as usize;
    let b = s.as_bytes();
    let len = b.len();
    let mut offset = 0usize;
    let mut out: Vec<u8> = Vec::with_capacity(len + len / width);
    while len - offset > width {
        if b[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = (width + offset + 1).min(len);
        let space = b[offset..end].iter().rposition(|c| *c == b' ');
        match space {
            Some(p) => {
                out.extend_from_slice(&b[offset..offset + p]);
                out.extend_from_slice(newline.as_bytes());
                offset += p + 1;
            }
            None => {
                let end = width + offset;
                match b[end..].iter().position(|c| *c == b' ') {
                    None => {
                        out.extend_from_slice(&b[offset..]);
                        offset = len;
                    }
                    Some(p) => {
                        out.extend_from_slice(&b[offset..end + p]);
                        out.extend_from_slice(newline.as_bytes());
                        offset = end + p + 1;
                    }
                }
            }
        }
    }
    out.extend_from_slice(&b[offset.min(len)..]);
    String::from_utf8_lossy(&out).into_owned()
}

fn wrap(c: &mut Call<'_>) -> FResult {
    let width = c.int(0)?;
    Ok(Value::from(wrap_custom(&c.str(1)?, width, "\n")))
}

fn wrap_with(c: &mut Call<'_>) -> FResult {
    let width = c.int(0)?;
    let sep = c.str(1)?;
    let sep: &str = &sep;
    let out = wrap_custom(&c.str(2)?, width, sep);
    c.check_len(out.len())?;
    Ok(Value::from(out))
}

fn contains(c: &mut Call<'_>) -> FResult {
    Ok(Value::Bool(find_bytes(c.bytes(1)?, c.bytes(0)?).is_some()))
}

fn has_prefix(c: &mut Call<'_>) -> FResult {
    Ok(Value::Bool(c.bytes(1)?.starts_with(c.bytes(0)?)))
}

fn has_suffix(c: &mut Call<'_>) -> FResult {
    Ok(Value::Bool(c.bytes(1)?.ends_with(c.bytes(0)?)))
}

fn quote(c: &mut Call<'_>) -> FResult {
    let parts: Vec<Vec<u8>> = c
        .args
        .iter()
        .filter(|v| !matches!(v, Value::Nil))
        .map(|v| crate::fmt::go_quote_bytes(strval(v).as_bytes(), false).0)
        .collect();
    Ok(Value::bytes(parts.join(&b' ')))
}

fn squote(c: &mut Call<'_>) -> FResult {
    let parts: Vec<Vec<u8>> = c
        .args
        .iter()
        .filter(|v| !matches!(v, Value::Nil))
        .map(|v| [b"'", crate::fmt::value_string(v).as_bytes(), b"'"].concat())
        .collect();
    Ok(Value::bytes(parts.join(&b' ')))
}

fn cat(c: &mut Call<'_>) -> FResult {
    let parts: Vec<GoString> =
        c.args.iter().filter(|v| !matches!(v, Value::Nil)).map(crate::fmt::value_string).collect();
    let out = parts.iter().map(GoString::as_bytes).collect::<Vec<_>>().join(&b' ');
    c.check_len(out.len())?;
    Ok(Value::bytes(out))
}

fn indent_text(c: &Call<'_>) -> Result<Vec<u8>, super::FuncError> {
    let spaces = c.int(0)?;
    let s = c.bytes(1)?;
    if spaces < 0 {
        return Err(fail("strings: negative Repeat count"));
    }
    let pad_len = spaces as u64;
    let lines = s.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    let total = (s.len() as u64).saturating_add(pad_len.saturating_mul(lines));
    c.check_len(usize::try_from(total).unwrap_or(usize::MAX))?;
    let pad = vec![b' '; spaces as usize];
    let mut out = pad.clone();
    out.extend_from_slice(&replace_bytes(s, b"\n", &[b"\n", pad.as_slice()].concat()));
    Ok(out)
}

fn indent(c: &mut Call<'_>) -> FResult {
    indent_text(c).map(Value::bytes)
}

fn nindent(c: &mut Call<'_>) -> FResult {
    indent_text(c).map(|s| Value::bytes([b"\n".as_slice(), &s].concat()))
}

fn replace(c: &mut Call<'_>) -> FResult {
    let old = c.bytes(0)?;
    let new = c.bytes(1)?;
    let src = c.bytes(2)?;
    let count = if old.is_empty() { crate::fmt::rune_count(src) + 1 } else { count_bytes(src, old) };
    let growth = (new.len() as u64).saturating_mul(count as u64);
    c.check_len(usize::try_from((src.len() as u64).saturating_add(growth)).unwrap_or(usize::MAX))?;
    Ok(Value::bytes(replace_bytes(src, old, new)))
}

fn plural(c: &mut Call<'_>) -> FResult {
    let count = c.int(2)?;
    Ok(if count == 1 { c.take(0) } else { c.take(1) })
}

fn to_string(c: &mut Call<'_>) -> FResult {
    Ok(Value::from(strval(c.value(0))))
}

/// Go's `strings.SplitN` over bytes (`n < 0`: all parts). An empty separator splits into runes (invalid bytes one
/// each); with a limit, the last part holds the rest.
fn go_split(s: &[u8], sep: &[u8], n: i64) -> Vec<Vec<u8>> {
    if n == 0 {
        return Vec::new();
    }
    let limit = if n < 0 { usize::MAX } else { n as usize };
    let mut out: Vec<Vec<u8>> = Vec::new();
    if sep.is_empty() {
        let mut runes: Vec<&[u8]> = Vec::new();
        let mut at = 0;
        for chunk in s.utf8_chunks() {
            for ch in chunk.valid().chars() {
                runes.push(&s[at..at + ch.len_utf8()]);
                at += ch.len_utf8();
            }
            for _ in chunk.invalid() {
                runes.push(&s[at..at + 1]);
                at += 1;
            }
        }
        let mut offset = 0;
        for rune in runes {
            if out.len() + 1 == limit {
                break;
            }
            out.push(rune.to_vec());
            offset += rune.len();
        }
        if offset < s.len() {
            out.push(s[offset..].to_vec());
        }
        return out;
    }
    let mut rest = s;
    while out.len() + 1 < limit {
        let Some(i) = find_bytes(rest, sep) else { break };
        out.push(rest[..i].to_vec());
        rest = &rest[i + sep.len()..];
    }
    out.push(rest.to_vec());
    out
}

fn parts_map(parts: Vec<Vec<u8>>) -> Value {
    Value::string_map(parts.into_iter().enumerate().map(|(i, p)| (format!("_{i}"), p)))
}

fn split(c: &mut Call<'_>) -> FResult {
    Ok(parts_map(go_split(c.bytes(1)?, c.bytes(0)?, -1)))
}

fn split_list(c: &mut Call<'_>) -> FResult {
    Ok(string_list(go_split(c.bytes(1)?, c.bytes(0)?, -1)))
}

fn splitn(c: &mut Call<'_>) -> FResult {
    let n = c.int(1)?;
    Ok(parts_map(go_split(c.bytes(2)?, c.bytes(0)?, n)))
}

fn to_strings(c: &mut Call<'_>) -> FResult {
    Ok(string_list(strslice(c.value(0))))
}

fn join(c: &mut Call<'_>) -> FResult {
    let sep = c.bytes(0)?;
    let parts = strslice(c.value(1));
    let out = parts.iter().map(GoString::as_bytes).collect::<Vec<_>>().join(sep);
    c.check_len(out.len())?;
    Ok(Value::bytes(out))
}

fn sort_alpha(c: &mut Call<'_>) -> FResult {
    match c.value(0) {
        Value::List(_) => {
            let mut items = strslice(c.value(0));
            items.sort();
            Ok(string_list(items))
        }
        other => Ok(string_list(vec![strval(other)])),
    }
}

/// Compiles a Go (RE2) regular expression. Go's `\d`, `\w`, `\s` and `\b` are ASCII-only; Rust's are Unicode, so
/// they are rewritten to their ASCII forms; `\Q…\E` is expanded to an escaped literal.
pub(crate) fn compile_go_regex(pattern: &str) -> Result<regex::Regex, super::FuncError> {
    let translated = translate_go_regex(pattern);
    regex::RegexBuilder::new(&translated)
        .size_limit(1 << 22)
        .build()
        .map_err(|_| fail("regexp: invalid regular expression"))
}

fn translate_go_regex(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut in_class = false;
    let mut class_start = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let e = chars[i + 1];
            i += 2;
            if e == 'Q' && !in_class {
                let mut literal = String::new();
                while i < chars.len() {
                    if chars[i] == '\\' && chars.get(i + 1) == Some(&'E') {
                        i += 2;
                        break;
                    }
                    literal.push(chars[i]);
                    i += 1;
                }
                out.push_str(&regex::escape(&literal));
                continue;
            }
            let replacement = match (e, in_class) {
                ('d', false) => Some("[0-9]"),
                ('D', false) => Some("[^0-9]"),
                ('w', false) => Some("[0-9A-Za-z_]"),
                ('W', false) => Some("[^0-9A-Za-z_]"),
                ('s', false) => Some("[\\t\\n\\f\\r ]"),
                ('S', false) => Some("[^\\t\\n\\f\\r ]"),
                ('d', true) => Some("0-9"),
                ('D', true) => Some("[^0-9]"),
                ('w', true) => Some("0-9A-Za-z_"),
                ('W', true) => Some("[^0-9A-Za-z_]"),
                ('s', true) => Some("\\t\\n\\f\\r "),
                ('S', true) => Some("[^\\t\\n\\f\\r ]"),
                ('b', false) => Some("(?-u:\\b)"),
                ('B', false) => Some("(?-u:\\B)"),
                _ => None,
            };
            match replacement {
                Some(r) => out.push_str(r),
                None => {
                    out.push('\\');
                    out.push(e);
                }
            }
            continue;
        }
        if in_class {
            if c == '[' && chars.get(i + 1) == Some(&':') {
                // A POSIX class such as [:alpha:] inside a bracket expression.
                if let Some(end) =
                    (i + 2..chars.len().saturating_sub(1)).find(|&j| chars[j] == ':' && chars[j + 1] == ']')
                {
                    out.extend(&chars[i..=end + 1]);
                    i = end + 2;
                    continue;
                }
            }
            if c == ']' && i > class_start {
                in_class = false;
            }
            out.push(c);
            i += 1;
            continue;
        }
        if c == '[' {
            in_class = true;
            out.push(c);
            i += 1;
            if chars.get(i) == Some(&'^') {
                out.push('^');
                i += 1;
            }
            // A ']' right at the start of a class is a literal.
            if chars.get(i) == Some(&']') {
                out.push_str("\\]");
                i += 1;
            }
            class_start = i;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Go's `FindAllStringIndex(s, n)`: non-overlapping matches, an empty match right after a match skipped.
fn go_find_all(re: &regex::Regex, s: &str, n: i64) -> Vec<(usize, usize)> {
    if n == 0 {
        return Vec::new();
    }
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut prev_end: Option<usize> = None;
    for m in re.find_iter(s) {
        if m.start() == m.end() && prev_end == Some(m.start()) {
            continue;
        }
        out.push((m.start(), m.end()));
        prev_end = Some(m.end());
        if n > 0 && out.len() as i64 >= n {
            break;
        }
    }
    out
}

fn regex_match(c: &mut Call<'_>) -> FResult {
    let s = c.str(1)?;
    let s: &str = &s;
    let matched = compile_go_regex(&c.str(0)?).map(|re| re.is_match(s)).unwrap_or(false);
    Ok(Value::Bool(matched))
}

fn must_regex_match(c: &mut Call<'_>) -> FResult {
    let re = compile_go_regex(&c.str(0)?)?;
    Ok(Value::Bool(re.is_match(&c.str(1)?)))
}

fn regex_find_all(c: &mut Call<'_>) -> FResult {
    let re = compile_go_regex(&c.str(0)?)?;
    let s = c.str(1)?;
    let s: &str = &s;
    let n = c.int(2)?;
    Ok(string_list(go_find_all(&re, s, n).into_iter().map(|(a, b)| s[a..b].to_owned())))
}

fn regex_find(c: &mut Call<'_>) -> FResult {
    let re = compile_go_regex(&c.str(0)?)?;
    let s = c.str(1)?;
    let s: &str = &s;
    Ok(Value::from(re.find(s).map(|m| m.as_str().to_owned()).unwrap_or_default()))
}

fn regex_replace(c: &mut Call<'_>, literal: bool) -> FResult {
    let re = compile_go_regex(&c.str(0)?)?;
    let s = c.str(1)?;
    let s: &str = &s;
    let repl = c.str(2)?;
    let repl: &str = &repl;
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut prev_end: Option<usize> = None;
    for caps in re.captures_iter(s) {
        let Some(m) = caps.get(0) else { continue };
        if m.start() == m.end() && prev_end == Some(m.start()) {
            continue;
        }
        out.push_str(&s[last..m.start()]);
        if literal {
            out.push_str(repl);
        } else {
            caps.expand(repl, &mut out);
        }
        c.check_len(out.len())?;
        last = m.end();
        prev_end = Some(m.end());
    }
    out.push_str(&s[last..]);
    c.check_len(out.len())?;
    Ok(Value::from(out))
}

fn regex_replace_all(c: &mut Call<'_>) -> FResult {
    regex_replace(c, false)
}

fn regex_replace_all_literal(c: &mut Call<'_>) -> FResult {
    regex_replace(c, true)
}

fn regex_split(c: &mut Call<'_>) -> FResult {
    let pattern = c.str(0)?;
    let pattern: &str = &pattern;
    let re = compile_go_regex(pattern)?;
    let s = c.str(1)?;
    let s: &str = &s;
    let n = c.int(2)?;
    if n == 0 {
        return Ok(Value::list(Vec::new()));
    }
    if !pattern.is_empty() && s.is_empty() {
        return Ok(string_list(vec![String::new()]));
    }
    let matches = go_find_all(&re, s, n);
    let mut parts = Vec::new();
    let (mut beg, mut end) = (0usize, 0usize);
    for (a, b) in matches {
        if n > 0 && parts.len() as i64 == n - 1 {
            break;
        }
        end = a;
        if b != 0 {
            parts.push(s[beg..end].to_owned());
        }
        beg = b;
    }
    if end != s.len() {
        parts.push(s[beg..].to_owned());
    }
    Ok(string_list(parts))
}

fn regex_quote_meta(c: &mut Call<'_>) -> FResult {
    // Go's QuoteMeta escapes `\.+*?()|[]{}^$`.
    let mut out = String::new();
    for ch in c.str(0)?.chars() {
        if "\\.+*?()|[]{}^$".contains(ch) {
            out.push('\\');
        }
        out.push(ch);
    }
    Ok(Value::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_and_kebab_case_follow_xstrings_examples() {
        for (input, want) in [
            ("FirstName", "first_name"),
            ("HTTPServer", "http_server"),
            ("NoHTTPS", "no_https"),
            ("GO_PATH", "go_path"),
            ("GO PATH", "go_path"),
            ("GO-PATH", "go_path"),
            ("http2xx", "http_2xx"),
            ("HTTP20xOK", "http_20x_ok"),
            ("Duration2m3s", "duration_2m3s"),
            ("Bld4Floor3rd", "bld4_floor_3rd"),
        ] {
            assert_eq!(lower_words(input, '_'), want, "{input}");
        }
        assert_eq!(lower_words("FirstName", '-'), "first-name");
    }

    #[test]
    fn go_regex_classes_are_ascii() {
        let Ok(re) = compile_go_regex(r"^\d+$") else { unreachable!("valid") };
        assert!(re.is_match("123"));
        assert!(!re.is_match("١٢٣"));
        let Ok(re) = compile_go_regex(r"[\w-]+\Q.*\E") else { unreachable!("valid") };
        assert!(re.is_match("a-b.*"));
        assert!(compile_go_regex(r"[]a]").is_ok());
    }

    #[test]
    fn splits_like_go() {
        let split = |s: &[u8], sep: &[u8], n| go_split(s, sep, n);
        assert_eq!(split(b"a,b,c", b",", 2), vec![b"a".to_vec(), b"b,c".to_vec()]);
        assert_eq!(split(b"abc", b"", -1), vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(split(b"abc", b"", 2), vec![b"a".to_vec(), b"bc".to_vec()]);
        assert_eq!(split(b"", b",", -1), vec![b"".to_vec()]);
        assert_eq!(split(b"a\xffb", b"", -1), vec![b"a".to_vec(), vec![0xff], b"b".to_vec()]);
        assert_eq!(split(b"\xff,\xfe", b",", -1), vec![vec![0xff], vec![0xfe]]);
    }
}
