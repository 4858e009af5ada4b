//! Go literal syntax: `strconv.Unquote` for strings and characters, and Go's number syntax.

use crate::ast::Number;

/// Go's `strconv.Unquote` for a double-quoted, back-quoted or single-quoted literal (quotes included).
/// Bytes that are not UTF-8 (from `\x` or octal escapes) are replaced by U+FFFD.
pub(crate) fn unquote(lit: &str) -> Result<String, ()> {
    unquote_bytes(lit).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Go's `strconv.Unquote` as bytes: `\x` and octal escapes can make strings that are not UTF-8, as in Go.
pub(crate) fn unquote_bytes(lit: &str) -> Result<Vec<u8>, ()> {
    let bytes = lit.as_bytes();
    if bytes.len() < 2 {
        return Err(());
    }
    let quote = bytes[0];
    if bytes[bytes.len() - 1] != quote {
        return Err(());
    }
    let body = &lit[1..lit.len() - 1];
    match quote {
        b'`' => {
            if body.contains('`') {
                return Err(());
            }
            Ok(body.replace('\r', "").into_bytes())
        }
        b'"' | b'\'' => {
            let mut out = Vec::with_capacity(body.len());
            let mut chars = body.char_indices().peekable();
            let mut count = 0;
            while let Some((_, c)) = chars.next() {
                count += 1;
                if c == quote as char && quote == b'"' {
                    return Err(());
                }
                if c == '\n' {
                    return Err(());
                }
                if c != '\\' {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    continue;
                }
                let Some((_, e)) = chars.next() else { return Err(()) };
                match e {
                    'a' => out.push(7),
                    'b' => out.push(8),
                    'f' => out.push(12),
                    'n' => out.push(b'\n'),
                    'r' => out.push(b'\r'),
                    't' => out.push(b'\t'),
                    'v' => out.push(11),
                    '\\' => out.push(b'\\'),
                    '\'' | '"' => {
                        if e as u32 != quote as u32 {
                            return Err(());
                        }
                        out.push(e as u8);
                    }
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut v: u32 = 0;
                        for _ in 0..n {
                            let Some((_, h)) = chars.next() else { return Err(()) };
                            v = v * 16 + h.to_digit(16).ok_or(())?;
                        }
                        if e == 'x' {
                            if quote == b'\'' {
                                // A \x escape in a character literal is a byte value used as a rune.
                                let c = char::from_u32(v).ok_or(())?;
                                let mut buf = [0u8; 4];
                                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            } else {
                                out.push(v as u8);
                            }
                        } else {
                            let c = char::from_u32(v).ok_or(())?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                    }
                    '0'..='7' => {
                        let mut v = e.to_digit(8).ok_or(())?;
                        for _ in 0..2 {
                            let Some((_, d)) = chars.next() else { return Err(()) };
                            v = v * 8 + d.to_digit(8).ok_or(())?;
                        }
                        if v > 255 {
                            return Err(());
                        }
                        out.push(v as u8);
                    }
                    _ => return Err(()),
                }
            }
            if quote == b'\'' && count == 0 {
                return Err(());
            }
            Ok(out)
        }
        _ => Err(()),
    }
}

/// The value of a character constant such as `'a'` or `'\n'`.
pub(crate) fn char_value(lit: &str) -> Result<i64, ()> {
    let s = unquote(lit)?;
    let mut chars = s.chars();
    let c = chars.next().ok_or(())?;
    if chars.next().is_some() {
        return Err(());
    }
    Ok(i64::from(c as u32))
}

/// Parses a Go number literal into the value Go's template engine gives it as an untyped constant:
/// an `int` unless the text is written as a float (`.`, `e`, `p` outside hex integers), then a `float64`.
pub(crate) fn number_value(text: &str) -> Result<Number, String> {
    let bad = || format!("illegal number syntax: {}", crate::fmt::go_quote(text));
    if text.ends_with('i') {
        return Err("complex numbers are not supported".to_owned());
    }
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match clean.as_bytes().first() {
        Some(b'-') => (true, &clean[1..]),
        Some(b'+') => (false, &clean[1..]),
        _ => (false, clean.as_str()),
    };
    let lower = body.to_ascii_lowercase();
    let radix_int = |digits: &str, radix: u32| -> Result<Number, String> {
        let magnitude = u64::from_str_radix(digits, radix).map_err(|_| bad())?;
        signed(neg, magnitude).ok_or_else(|| format!("{text} overflows int"))
    };
    if let Some(hex) = lower.strip_prefix("0x") {
        if hex.contains('p') || hex.contains('.') {
            let f = parse_hex_float(hex).ok_or_else(bad)?;
            return Ok(Number::Float(if neg { -f } else { f }));
        }
        return radix_int(hex, 16);
    }
    if let Some(oct) = lower.strip_prefix("0o") {
        return radix_int(oct, 8);
    }
    if let Some(bin) = lower.strip_prefix("0b") {
        return radix_int(bin, 2);
    }
    let is_float_syntax = lower.contains('.') || lower.contains('e');
    if !is_float_syntax {
        if lower.len() > 1 && lower.starts_with('0') {
            return match u64::from_str_radix(&lower[1..], 8) {
                Ok(m) => signed(neg, m).ok_or_else(|| format!("{text} overflows int")),
                // Go: "08" is not octal, parses as a float, and is then rejected as an integer overflow.
                Err(_) => Err(format!("integer overflow: {}", crate::fmt::go_quote(text))),
            };
        }
        let magnitude: u64 = match lower.parse() {
            Ok(m) => m,
            Err(_) => {
                return if !lower.is_empty() && lower.bytes().all(|b| b.is_ascii_digit()) {
                    Err(format!("integer overflow: {}", crate::fmt::go_quote(text)))
                } else {
                    Err(bad())
                };
            }
        };
        return signed(neg, magnitude).ok_or_else(|| format!("{text} overflows int"));
    }
    let f: f64 = lower.parse().map_err(|_| bad())?;
    if f.is_infinite() {
        return Err(bad());
    }
    Ok(Number::Float(if neg { -f } else { f }))
}

fn signed(neg: bool, magnitude: u64) -> Option<Number> {
    if neg {
        if magnitude <= i64::MAX as u64 {
            Some(Number::Int(-(magnitude as i64)))
        } else if magnitude == i64::MAX as u64 + 1 {
            Some(Number::Int(i64::MIN))
        } else {
            None
        }
    } else {
        i64::try_from(magnitude).ok().map(Number::Int)
    }
}

/// A hexadecimal float such as `1.8p3` (the `0x` already removed, lower case).
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mantissa, exp) = match s.split_once('p') {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => return None,
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut value = 0f64;
    for c in int_part.chars() {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac_part.chars() {
        value += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(value * 2f64.powi(exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquotes_go_strings() {
        assert_eq!(unquote(r#""a\tb\n\x41\u00e9\101""#), Ok("a\tb\nA\u{e9}A".to_owned()));
        assert_eq!(unquote("`a\\n\r`"), Ok("a\\n".to_owned()));
        assert_eq!(unquote(r#""\'""#), Err(()));
        assert_eq!(unquote(r#""\q""#), Err(()));
    }

    #[test]
    fn char_constants() {
        assert_eq!(char_value("'a'"), Ok(97));
        assert_eq!(char_value(r"'\n'"), Ok(10));
        assert_eq!(char_value("'ab'"), Err(()));
    }

    #[test]
    fn numbers_follow_go_constant_rules() {
        assert!(matches!(number_value("42"), Ok(Number::Int(42))));
        assert!(matches!(number_value("-0x1F"), Ok(Number::Int(-31))));
        assert!(matches!(number_value("017"), Ok(Number::Int(15))));
        assert!(matches!(number_value("1_000"), Ok(Number::Int(1000))));
        assert!(matches!(number_value("1.5"), Ok(Number::Float(f)) if f == 1.5));
        assert!(matches!(number_value("1e3"), Ok(Number::Float(f)) if f == 1000.0));
        assert!(matches!(number_value("0x1p-2"), Ok(Number::Float(f)) if f == 0.25));
        assert!(number_value("08").is_err());
        assert!(number_value("99999999999999999999").is_err());
    }
}
