//! Encodings, JSON/YAML, hashes and ESO's `filterPEM`.

use std::fmt::Write as _;

use base64::Engine as _;
use sha1::Digest as _;

use super::{Call, FResult, FuncDef, fail, fixed};
use crate::json;
use crate::value::Value;

pub(crate) const FUNCS: &[FuncDef] = &[
    fixed("b64enc", 1, b64enc),
    fixed("b64dec", 1, b64dec),
    fixed("b32enc", 1, b32enc),
    fixed("b32dec", 1, b32dec),
    fixed("hexdec", 1, hexdec),
    fixed("toJson", 1, to_json),
    fixed("mustToJson", 1, must_to_json),
    fixed("toPrettyJson", 1, to_pretty_json),
    fixed("mustToPrettyJson", 1, must_to_pretty_json),
    fixed("toRawJson", 1, to_raw_json),
    fixed("mustToRawJson", 1, to_raw_json),
    fixed("fromJson", 1, from_json),
    fixed("mustFromJson", 1, must_from_json),
    fixed("toYaml", 1, to_yaml),
    fixed("fromYaml", 1, from_yaml),
    fixed("sha1sum", 1, sha1sum),
    fixed("sha256sum", 1, sha256sum),
    fixed("sha512sum", 1, sha512sum),
    fixed("adler32sum", 1, adler32sum),
    fixed("filterPEM", 2, filter_pem),
];

fn b64enc(c: &mut Call<'_>) -> FResult {
    let s = c.bytes(0)?;
    c.check_len(s.len() / 3 * 4 + 4)?;
    Ok(Value::from(base64::engine::general_purpose::STANDARD.encode(s)))
}

/// Go's `base64.StdEncoding.DecodeString`: padding required, CR and LF ignored, the error names the offset of
/// the first bad byte.
pub(crate) fn go_base64_decode(src: &[u8]) -> Result<Vec<u8>, usize> {
    fn value(b: u8) -> Option<u8> {
        match b {
            b'A'..=b'Z' => Some(b - b'A'),
            b'a'..=b'z' => Some(b - b'a' + 26),
            b'0'..=b'9' => Some(b - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    while si < src.len() {
        let mut dbuf = [0u8; 4];
        let mut dlen = 4;
        let mut j = 0;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                // Padding is required.
                return Err(si - j);
            }
            let b = src[si];
            si += 1;
            if let Some(v) = value(b) {
                dbuf[j] = v;
                j += 1;
                continue;
            }
            if b == b'\n' || b == b'\r' {
                continue;
            }
            if b != b'=' {
                return Err(si - 1);
            }
            // Padding: "=" at position 2 needs a second "=", at position 3 it ends the quantum.
            match j {
                0 | 1 => return Err(si - 1),
                2 => {
                    while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                        si += 1;
                    }
                    if si == src.len() {
                        return Err(src.len());
                    }
                    if src[si] != b'=' {
                        return Err(si - 1);
                    }
                    si += 1;
                }
                _ => {}
            }
            while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                si += 1;
            }
            if si < src.len() {
                return Err(si);
            }
            dlen = j;
            break;
        }
        let val =
            (u32::from(dbuf[0]) << 18) | (u32::from(dbuf[1]) << 12) | (u32::from(dbuf[2]) << 6) | u32::from(dbuf[3]);
        let bytes = [(val >> 16) as u8, (val >> 8) as u8, val as u8];
        match dlen {
            4 => out.extend_from_slice(&bytes),
            3 => out.extend_from_slice(&bytes[..2]),
            2 => out.push(bytes[0]),
            _ => {}
        }
        if dlen < 4 {
            return Ok(out);
        }
    }
    Ok(out)
}

fn b64dec(c: &mut Call<'_>) -> FResult {
    // Sprig returns the error text instead of failing.
    Ok(match go_base64_decode(c.bytes(0)?) {
        Ok(bytes) => Value::bytes(bytes),
        Err(at) => Value::from(format!("illegal base64 data at input byte {at}")),
    })
}

fn b32enc(c: &mut Call<'_>) -> FResult {
    let s = c.bytes(0)?;
    c.check_len(s.len() / 5 * 8 + 8)?;
    Ok(Value::from(data_encoding::BASE32.encode(s)))
}

fn b32dec(c: &mut Call<'_>) -> FResult {
    let cleaned: Vec<u8> = c.bytes(0)?.iter().copied().filter(|b| *b != b'\n' && *b != b'\r').collect();
    Ok(match data_encoding::BASE32.decode(&cleaned) {
        Ok(bytes) => Value::bytes(bytes),
        Err(e) => Value::from(format!("illegal base32 data at input byte {}", e.position)),
    })
}

/// Go's `%#U` of a byte read as a rune: `U+0067 'g'`, without the quoted character when it is not printable.
fn go_sharp_u(b: u8) -> String {
    let ch = char::from(b);
    if crate::fmt::is_print(ch) { format!("U+{:04X} '{ch}'", b) } else { format!("U+{:04X}", b) }
}

/// ESO's `hexdec` (its vendored Sprig's `hexdecode`): Go's `hex.DecodeString`, the error text as the result.
fn hexdec(c: &mut Call<'_>) -> FResult {
    let bytes = c.bytes(0)?;
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len() / 2);
    for pair in bytes.chunks(2) {
        let Some(hi) = digit(pair[0]) else {
            return Ok(Value::from(format!("encoding/hex: invalid byte: {}", go_sharp_u(pair[0]))));
        };
        let Some(&lo_byte) = pair.get(1) else {
            return Ok(Value::from("encoding/hex: odd length hex string".to_owned()));
        };
        let Some(lo) = digit(lo_byte) else {
            return Ok(Value::from(format!("encoding/hex: invalid byte: {}", go_sharp_u(lo_byte))));
        };
        out.push(hi << 4 | lo);
    }
    Ok(Value::bytes(out))
}

fn to_json(c: &mut Call<'_>) -> FResult {
    Ok(Value::from(json::encode(c.value(0), true, None).unwrap_or_default()))
}

fn must_to_json(c: &mut Call<'_>) -> FResult {
    json::encode(c.value(0), true, None).map(Value::from).map_err(|e| fail(e.message()))
}

fn to_pretty_json(c: &mut Call<'_>) -> FResult {
    Ok(Value::from(json::encode(c.value(0), true, Some("  ")).unwrap_or_default()))
}

fn must_to_pretty_json(c: &mut Call<'_>) -> FResult {
    json::encode(c.value(0), true, Some("  ")).map(Value::from).map_err(|e| fail(e.message()))
}

/// Sprig's `toRawJson` panics on error, so both variants fail the template.
fn to_raw_json(c: &mut Call<'_>) -> FResult {
    json::encode(c.value(0), false, None).map(Value::from).map_err(|e| fail(e.message()))
}

fn from_json(c: &mut Call<'_>) -> FResult {
    Ok(json::decode(&c.str(0)?).unwrap_or_default())
}

fn must_from_json(c: &mut Call<'_>) -> FResult {
    json::decode(&c.str(0)?).map_err(fail)
}

fn to_yaml(c: &mut Call<'_>) -> FResult {
    Ok(Value::from(json::to_yaml(c.value(0))))
}

fn from_yaml(c: &mut Call<'_>) -> FResult {
    Ok(json::from_yaml(&c.str(0)?))
}

fn sha1sum(c: &mut Call<'_>) -> FResult {
    Ok(Value::from(hex::encode(sha1::Sha1::digest(c.bytes(0)?))))
}

fn sha256sum(c: &mut Call<'_>) -> FResult {
    Ok(Value::from(hex::encode(sha2::Sha256::digest(c.bytes(0)?))))
}

fn sha512sum(c: &mut Call<'_>) -> FResult {
    Ok(Value::from(hex::encode(sha2::Sha512::digest(c.bytes(0)?))))
}

fn adler32sum(c: &mut Call<'_>) -> FResult {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in c.bytes(0)? {
        a = (a + u32::from(byte)) % MOD;
        b = (b + a) % MOD;
    }
    Ok(Value::from(((b << 16) | a).to_string()))
}

/// A decoded PEM block (Go's `pem.Block`).
pub(crate) struct PemBlock {
    pub kind: String,
    pub headers: Vec<(String, String)>,
    pub bytes: Vec<u8>,
}

/// Go's `getLine`: the line without its newline (CR and trailing spaces/tabs removed) and the rest.
fn get_line(data: &str) -> (&str, &str) {
    let (line, rest) = match data.find('\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, ""),
    };
    let line = line.strip_suffix('\r').unwrap_or(line);
    (line.trim_end_matches([' ', '\t']), rest)
}

/// Go's `pem.Decode`: the next block and the rest of the input, or `None` and the input unchanged.
pub(crate) fn pem_decode(data: &str) -> (Option<PemBlock>, &str) {
    let mut rest = data;
    loop {
        if let Some(after) = rest.strip_prefix("-----BEGIN ") {
            rest = after;
        } else if let Some(i) = rest.find("\n-----BEGIN ") {
            rest = &rest[i + "\n-----BEGIN ".len()..];
        } else {
            return (None, data);
        }
        let (type_line, after_type) = get_line(rest);
        rest = after_type;
        let Some(kind) = type_line.strip_suffix("-----") else { continue };
        let mut headers = Vec::new();
        loop {
            if rest.is_empty() {
                return (None, data);
            }
            let (line, next) = get_line(rest);
            let Some((key, value)) = line.split_once(':') else { break };
            headers.push((key.trim().to_owned(), value.trim().to_owned()));
            rest = next;
        }
        let (end_index, trailer_index) = if headers.is_empty() && rest.starts_with("-----END ") {
            (0, "-----END ".len())
        } else {
            match rest.find("\n-----END ") {
                Some(i) => (i, i + "\n-----END ".len()),
                None => continue,
            }
        };
        let trailer = &rest[trailer_index..];
        let trailer_len = kind.len() + "-----".len();
        if trailer.len() < trailer_len {
            continue;
        }
        let (Some(end_line), Some(rest_of_end)) = (trailer.get(..trailer_len), trailer.get(trailer_len..)) else {
            continue;
        };
        if !end_line.starts_with(kind) || !end_line.ends_with("-----") {
            continue;
        }
        if !get_line(rest_of_end).0.is_empty() {
            continue;
        }
        let body: Vec<u8> = rest[..end_index].bytes().filter(|b| *b != b' ' && *b != b'\t').collect();
        let Ok(bytes) = go_base64_decode(&body) else { continue };
        // Duplicate header keys: the last one wins, as in Go's map.
        let mut unique: Vec<(String, String)> = Vec::new();
        for (k, v) in headers {
            unique.retain(|(key, _)| *key != k);
            unique.push((k, v));
        }
        let after_end = &rest[(end_index + "\n-----END ".len()).saturating_sub(1).min(rest.len())..];
        let (_, remaining) = get_line(after_end);
        return (Some(PemBlock { kind: kind.to_owned(), headers: unique, bytes }), remaining);
    }
}

/// Go's `pem.Encode`.
pub(crate) fn pem_encode(out: &mut String, block: &PemBlock) -> Result<(), super::FuncError> {
    if block.headers.iter().any(|(k, _)| k.contains(':')) {
        return Err(fail("pem: cannot encode a header key that contains a colon"));
    }
    let _ = writeln!(out, "-----BEGIN {}-----", block.kind);
    if !block.headers.is_empty() {
        let mut headers: Vec<&(String, String)> = block.headers.iter().collect();
        headers.sort_by(|a, b| (a.0 != "Proc-Type", &a.0).cmp(&(b.0 != "Proc-Type", &b.0)));
        for (k, v) in headers {
            let _ = writeln!(out, "{k}: {v}");
        }
        out.push('\n');
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(&block.bytes);
    let mut start = 0;
    while start < encoded.len() {
        let end = (start + 64).min(encoded.len());
        out.push_str(&encoded[start..end]);
        out.push('\n');
        start = end;
    }
    let _ = writeln!(out, "-----END {}-----", block.kind);
    Ok(())
}

/// ESO's `filterPEM type input`: the PEM blocks of that type (case-insensitive), re-encoded.
fn filter_pem(c: &mut Call<'_>) -> FResult {
    let wanted = c.str(0)?;
    let wanted: &str = &wanted;
    let input = c.str(1)?;
    let input: &str = &input;
    let mut data = match input.find("-----BEGIN") {
        Some(i) => &input[i..],
        None => input,
    };
    let mut out = String::new();
    let mut rest;
    loop {
        let (block, remaining) = pem_decode(data);
        rest = remaining;
        data = remaining;
        let Some(block) = block else { break };
        if block.kind.eq_ignore_ascii_case(wanted) {
            pem_encode(&mut out, &block)?;
        }
    }
    if out.is_empty() && !rest.is_empty() {
        return Err(fail("error filtering pem: found junk"));
    }
    Ok(Value::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_errors_match_go_offsets() {
        assert_eq!(go_base64_decode(b"aGVsbG8="), Ok(b"hello".to_vec()));
        assert_eq!(go_base64_decode(b"aGVs\nbG8="), Ok(b"hello".to_vec()));
        assert_eq!(go_base64_decode(b"aGVsbG8"), Err(4));
        assert_eq!(go_base64_decode(b"aG$s"), Err(2));
        assert_eq!(go_base64_decode(b"aGVsbG8=x"), Err(8));
    }

    #[test]
    fn pem_round_trip() {
        let input = "junk\n-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nd29ybGQ=\n-----END PRIVATE KEY-----\n";
        let (block, rest) = pem_decode(input);
        let Some(block) = block else { unreachable!("block") };
        assert_eq!(block.kind, "CERTIFICATE");
        assert_eq!(block.bytes, b"hello");
        assert!(rest.starts_with("-----BEGIN PRIVATE KEY"));
    }
}
