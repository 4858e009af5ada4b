//! Go's `fmt` and `strconv` formatting for template values: `%v` printing, `print`/`println`/`printf`,
//! `strconv.Quote` and float formatting (`1e+06`, not `1000000`, as Go prints a `float64`).

use std::fmt::Write as _;

use crate::gotime;
use crate::value::{GoString, MAX_VALUE_DEPTH, Value};

/// Output of Go's formatting: bytes (Go strings need not be UTF-8), written with `write!` or pushed.
#[derive(Default)]
pub(crate) struct Buf(pub Vec<u8>);

impl Buf {
    pub fn push(&mut self, c: char) {
        let mut tmp = [0u8; 4];
        self.0.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
    }

    pub fn push_str(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }

    pub fn push_bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }

    fn extend(&mut self, chars: impl Iterator<Item = char>) {
        for c in chars {
            self.push(c);
        }
    }

    pub fn into_go_string(self) -> GoString {
        GoString::from(self.0)
    }
}

impl std::fmt::Write for Buf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

/// Go's `strconv.Quote` of text.
pub(crate) fn go_quote(s: &str) -> String {
    String::from_utf8_lossy(&go_quote_bytes(s.as_bytes(), false).0).into_owned()
}

/// Go's `strconv.Quote` (or `QuoteToASCII`) of any bytes: invalid UTF-8 bytes become `\xNN`. The result is ASCII
/// or UTF-8 text.
pub(crate) fn go_quote_bytes(s: &[u8], ascii_only: bool) -> Buf {
    let mut out = Buf(Vec::with_capacity(s.len() + 2));
    out.push('"');
    quote_into(&mut out, s, '"', ascii_only);
    out.push('"');
    out
}

fn quote_into(out: &mut Buf, s: &[u8], quote: char, ascii_only: bool) {
    for chunk in s.utf8_chunks() {
        for c in chunk.valid().chars() {
            quote_char_into(out, c, quote, ascii_only);
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
}

/// Go's `utf8.RuneCount`: every byte of an invalid sequence counts as one rune.
pub(crate) fn rune_count(s: &[u8]) -> usize {
    s.utf8_chunks().map(|c| c.valid().chars().count() + c.invalid().len()).sum()
}

/// The first `n` runes of `s` (invalid bytes count one each), as Go's `%.Ns` cuts.
fn rune_prefix(s: &[u8], n: usize) -> &[u8] {
    let mut left = n;
    let mut end = 0;
    for chunk in s.utf8_chunks() {
        for c in chunk.valid().chars() {
            if left == 0 {
                return &s[..end];
            }
            left -= 1;
            end += c.len_utf8();
        }
        for _ in chunk.invalid() {
            if left == 0 {
                return &s[..end];
            }
            left -= 1;
            end += 1;
        }
    }
    &s[..end]
}

fn quote_char_into(out: &mut Buf, c: char, quote: char, ascii_only: bool) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if ascii_only {
        if c.is_ascii() && is_print(c) {
            out.push(c);
            return;
        }
    } else if is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c == '\u{7f}' => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if (c as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

/// An approximation of Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space.
pub(crate) fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    // Format characters (Cf), private use (Co) and non-characters are not printable.
    !matches!(u,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E
        | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF
        | 0xFFFE | 0xFFFF | 0xF0000..=0x10FFFF)
}

/// The decimal digits of a float: `0.d1d2… × 10^dp` (Go's `decimalSlice`).
struct Digits {
    digits: Vec<u8>,
    dp: i32,
}

impl Digits {
    /// The shortest digits that round-trip (what Go uses for precision -1).
    fn shortest(f: f64) -> Digits {
        Self::from_exp_string(&format!("{:e}", f.abs()))
    }

    /// Rounded to `n` significant digits, trailing zeros dropped.
    fn significant(f: f64, n: usize) -> Digits {
        let mut d = Self::from_exp_string(&format!("{:.*e}", n.saturating_sub(1), f.abs()));
        while d.digits.len() > 1 && d.digits.last() == Some(&b'0') {
            d.digits.pop();
        }
        d
    }

    fn from_exp_string(s: &str) -> Digits {
        let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
        if digits.iter().all(|d| *d == b'0') {
            return Digits { digits: vec![b'0'], dp: 1 };
        }
        Digits { digits, dp: exp + 1 }
    }

    fn digit(&self, i: i32) -> u8 {
        if i < 0 {
            return b'0';
        }
        self.digits.get(i as usize).copied().unwrap_or(b'0')
    }

    /// `%e` with `prec` digits after the point.
    fn fmt_e(&self, prec: usize, upper: bool) -> String {
        let mut out = String::new();
        out.push(self.digit(0) as char);
        if prec > 0 {
            out.push('.');
            for i in 1..=prec {
                out.push(self.digit(i as i32) as char);
            }
        }
        out.push(if upper { 'E' } else { 'e' });
        let exp = if self.digits == [b'0'] { 0 } else { self.dp - 1 };
        out.push(if exp < 0 { '-' } else { '+' });
        let exp = exp.unsigned_abs();
        if exp < 10 {
            out.push('0');
        }
        let _ = write!(out, "{exp}");
        out
    }

    /// `%f` with `prec` digits after the point.
    fn fmt_f(&self, prec: usize) -> String {
        let mut out = String::new();
        if self.dp > 0 {
            for i in 0..self.dp {
                out.push(self.digit(i) as char);
            }
        } else {
            out.push('0');
        }
        if prec > 0 {
            out.push('.');
            for i in 0..prec as i32 {
                out.push(self.digit(self.dp + i) as char);
            }
        }
        out
    }
}

/// Go's `strconv.FormatFloat(f, fmt, prec, 64)` for `e`, `E`, `f`, `g`, `G` (`prec` -1 = shortest).
pub(crate) fn format_float(f: f64, verb: char, prec: i32) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".to_owned() } else { "-Inf".to_owned() };
    }
    let neg = f.is_sign_negative() && f != 0.0 || (f == 0.0 && f.is_sign_negative());
    let body = match verb {
        'e' | 'E' => {
            let digits = if prec < 0 { Digits::shortest(f) } else { Digits::significant(f, prec as usize + 1) };
            let p = if prec < 0 { digits.digits.len().saturating_sub(1) } else { prec as usize };
            digits.fmt_e(p, verb == 'E')
        }
        'f' | 'F' => {
            if prec < 0 {
                let digits = Digits::shortest(f);
                let p = (digits.digits.len() as i32 - digits.dp).max(0) as usize;
                digits.fmt_f(p)
            } else {
                format!("{:.*}", prec as usize, f.abs())
            }
        }
        _ => {
            // 'g' / 'G'
            let shortest = prec < 0;
            let mut p = if prec == 0 { 1 } else { prec };
            let digits = if shortest { Digits::shortest(f) } else { Digits::significant(f, p as usize) };
            let nd = digits.digits.len() as i32;
            let mut eprec = p;
            if shortest {
                p = nd;
                eprec = 6;
            } else if eprec > nd && nd >= digits.dp {
                eprec = nd;
            }
            let exp = digits.dp - 1;
            if exp < -4 || exp >= eprec {
                if p > nd {
                    p = nd;
                }
                digits.fmt_e((p - 1).max(0) as usize, verb == 'G')
            } else {
                if p > digits.dp {
                    p = nd;
                }
                digits.fmt_f((p - digits.dp).max(0) as usize)
            }
        }
    };
    if neg { format!("-{body}") } else { body }
}

/// Writes a value as Go's `%v` (`fmt.Sprint` of one operand).
pub(crate) fn write_value(out: &mut Buf, v: &Value, depth: usize) {
    if depth > MAX_VALUE_DEPTH {
        out.push_str("...");
        return;
    }
    match v {
        Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&format_float(*f, 'g', -1)),
        Value::String(s) => out.push_bytes(s.as_bytes()),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(out, item, depth + 1);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            if let Ok(m) = m.try_borrow() {
                for (i, (k, v)) in m.entries.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    write_value(out, v, depth + 1);
                }
            }
            out.push(']');
        }
        Value::Time(t) => out.push_str(&gotime::time_string(t)),
    }
}

/// `%v` of one value as a new string.
pub(crate) fn value_string(v: &Value) -> GoString {
    let mut out = Buf::default();
    write_value(&mut out, v, 0);
    out.into_go_string()
}

/// Go's `fmt.Sprint`: operands formatted with `%v`, a space between two operands when neither is a string.
pub(crate) fn sprint(args: &[Value]) -> GoString {
    let mut out = Buf::default();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 && !matches!(arg, Value::String(_)) && !matches!(args[i - 1], Value::String(_)) {
            out.push(' ');
        }
        write_value(&mut out, arg, 0);
    }
    out.into_go_string()
}

/// Go's `fmt.Sprintln`: operands separated by spaces, then a newline.
pub(crate) fn sprintln(args: &[Value]) -> GoString {
    let mut out = Buf::default();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_value(&mut out, arg, 0);
    }
    out.push('\n');
    out.into_go_string()
}

/// Go's `evalArgs` for the `html`, `js` and `urlquery` builtins: one string as is, otherwise `fmt.Sprint`.
pub(crate) fn eval_args_string(args: &[Value]) -> GoString {
    if let [Value::String(s)] = args {
        return s.clone();
    }
    sprint(args)
}

#[derive(Default, Clone, Copy)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Upper bound on a printf width or precision, so `%999999999d` cannot allocate without bound.
const MAX_WIDTH: usize = 1 << 16;

/// Go's `fmt.Sprintf`.
pub(crate) fn sprintf(format: &[u8], args: &[Value]) -> GoString {
    let mut out = Buf::default();
    let mut arg_num = 0usize;
    let mut reordered = false;
    let bytes = format;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i] != b'%' {
            i += 1;
        }
        out.push_bytes(&format[start..i]);
        if i >= bytes.len() {
            break;
        }
        i += 1; // skip '%'
        let mut flags = Flags::default();
        // Flags.
        while i < bytes.len() {
            match bytes[i] {
                b'+' => flags.plus = true,
                b'-' => {
                    flags.minus = true;
                    flags.zero = false;
                }
                b'#' => flags.sharp = true,
                b'0' => flags.zero = !flags.minus,
                b' ' => flags.space = true,
                _ => break,
            }
            i += 1;
        }
        // Argument index, width.
        if let Some((n, next)) = arg_index(bytes, i) {
            arg_num = n;
            i = next;
            reordered = true;
        }
        if i < bytes.len() && bytes[i] == b'*' {
            i += 1;
            match args.get(arg_num) {
                Some(Value::Int(w)) => {
                    let w = *w;
                    if w < 0 {
                        flags.minus = true;
                        flags.zero = false;
                    }
                    flags.width = Some((w.unsigned_abs() as usize).min(MAX_WIDTH));
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
            arg_num += 1;
        } else {
            let (n, next) = parse_num(bytes, i);
            if next > i {
                flags.width = Some(n.min(MAX_WIDTH));
            }
            i = next;
        }
        // Precision.
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            if let Some((n, next)) = arg_index(bytes, i) {
                arg_num = n;
                i = next;
                reordered = true;
            }
            if i < bytes.len() && bytes[i] == b'*' {
                i += 1;
                match args.get(arg_num) {
                    Some(Value::Int(p)) if *p >= 0 => flags.prec = Some((*p as usize).min(MAX_WIDTH)),
                    _ => out.push_str("%!(BADPREC)"),
                }
                arg_num += 1;
            } else {
                let (n, next) = parse_num(bytes, i);
                flags.prec = Some(n.min(MAX_WIDTH));
                i = next;
            }
        }
        if let Some((n, next)) = arg_index(bytes, i) {
            arg_num = n;
            i = next;
            reordered = true;
        }
        if i >= bytes.len() {
            out.push_str("%!(NOVERB)");
            break;
        }
        // The verb is one rune; an invalid byte reads as U+FFFD and is one byte long, as in Go.
        let (verb, verb_len) = match format[i..].utf8_chunks().next() {
            Some(chunk) => match chunk.valid().chars().next() {
                Some(c) => (c, c.len_utf8()),
                None => ('\u{fffd}', 1),
            },
            None => break,
        };
        i += verb_len;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(arg_num) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        arg_num += 1;
        format_arg(&mut out, arg, verb, flags);
    }
    if !reordered && arg_num < args.len() {
        out.push_str("%!(EXTRA ");
        for (n, arg) in args[arg_num..].iter().enumerate() {
            if n > 0 {
                out.push_str(", ");
            }
            out.push_str(arg.type_name());
            out.push('=');
            write_value(&mut out, arg, 0);
        }
        out.push(')');
    }
    out.into_go_string()
}

fn parse_num(bytes: &[u8], mut i: usize) -> (usize, usize) {
    let mut n: usize = 0;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        n = n.saturating_mul(10).saturating_add(usize::from(bytes[i] - b'0'));
        i += 1;
    }
    (n, i)
}

/// `[n]` explicit argument index (1-based); returns the 0-based index and the position after `]`.
fn arg_index(bytes: &[u8], i: usize) -> Option<(usize, usize)> {
    if bytes.get(i) != Some(&b'[') {
        return None;
    }
    let (n, next) = parse_num(bytes, i + 1);
    if next == i + 1 || bytes.get(next) != Some(&b']') || n == 0 {
        return None;
    }
    Some((n - 1, next + 1))
}

fn bad_verb(out: &mut Buf, verb: char, arg: &Value) {
    match arg {
        Value::Nil => {
            let _ = write!(out, "%!{verb}(<nil>)");
        }
        _ => {
            let _ = write!(out, "%!{verb}({}=", arg.type_name());
            write_value(out, arg, 0);
            out.push(')');
        }
    }
}

fn pad(out: &mut Buf, body: &str, flags: Flags, numeric: bool) {
    let len = body.chars().count();
    let width = flags.width.unwrap_or(0);
    if len >= width {
        out.push_str(body);
        return;
    }
    let fill = width - len;
    if flags.minus {
        out.push_str(body);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if flags.zero && numeric {
        // Zero padding goes after the sign.
        let (sign, digits) = match body.strip_prefix(['-', '+', ' ']) {
            Some(rest) => (&body[..1], rest),
            None => ("", body),
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(digits);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(body);
    }
}

/// [`pad`] for a string operand that may not be UTF-8 (width counted in runes, invalid bytes one each).
fn pad_bytes(out: &mut Buf, body: &[u8], flags: Flags) {
    let fill = flags.width.unwrap_or(0).saturating_sub(rune_count(body));
    if flags.minus {
        out.push_bytes(body);
        out.extend(std::iter::repeat_n(' ', fill));
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_bytes(body);
    }
}

fn format_int(out: &mut Buf, i: i64, verb: char, flags: Flags) {
    let neg = i < 0;
    let magnitude = i.unsigned_abs();
    let mut digits = match verb {
        'd' | 'v' => magnitude.to_string(),
        'b' => format!("{magnitude:b}"),
        'o' | 'O' => format!("{magnitude:o}"),
        'x' => format!("{magnitude:x}"),
        'X' => format!("{magnitude:X}"),
        _ => magnitude.to_string(),
    };
    if let Some(p) = flags.prec {
        if p == 0 && magnitude == 0 {
            digits.clear();
        } else if digits.len() < p {
            digits = format!("{}{digits}", "0".repeat(p - digits.len()));
        }
    }
    let prefix = match verb {
        'x' if flags.sharp => "0x",
        'X' if flags.sharp => "0X",
        'o' if flags.sharp && !digits.starts_with('0') => "0",
        'O' => "0o",
        'b' if flags.sharp => "0b",
        _ => "",
    };
    let sign = if neg {
        "-"
    } else if flags.plus {
        "+"
    } else if flags.space {
        " "
    } else {
        ""
    };
    let body = format!("{sign}{prefix}{digits}");
    // A precision turns zero padding off, as in Go.
    let flags = if flags.prec.is_some() { Flags { zero: false, ..flags } } else { flags };
    pad(out, &body, flags, true);
}

fn format_float_verb(out: &mut Buf, f: f64, verb: char, flags: Flags) {
    let prec = flags.prec.map(|p| p as i32);
    let (v, p) = match verb {
        'v' => ('g', prec.unwrap_or(-1)),
        'e' | 'E' | 'f' | 'F' => (verb, prec.unwrap_or(6)),
        _ => (verb, prec.unwrap_or(-1)),
    };
    let mut body = format_float(f, v, p);
    if flags.plus && !body.starts_with(['-', '+']) {
        body.insert(0, '+');
    } else if flags.space && !body.starts_with(['-', '+']) {
        body.insert(0, ' ');
    } else if !flags.plus && body == "+Inf" {
        body = "Inf".to_owned();
        if flags.space {
            body.insert(0, ' ');
        }
    }
    let numeric = f.is_finite();
    pad(out, &body, flags, numeric);
}

fn format_string(out: &mut Buf, s: &[u8], verb: char, flags: Flags) {
    let cut = match flags.prec {
        Some(p) => rune_prefix(s, p),
        None => s,
    };
    match verb {
        's' | 'v' => pad_bytes(out, cut, flags),
        'q' => {
            let raw = match std::str::from_utf8(cut) {
                Ok(text) if flags.sharp && !text.contains('`') && text.chars().all(|c| c == '\t' || is_print(c)) => {
                    Some(format!("`{text}`"))
                }
                _ => None,
            };
            match raw {
                Some(raw) => pad(out, &raw, flags, false),
                None => pad_bytes(out, &go_quote_bytes(cut, flags.plus).0, flags),
            }
        }
        'x' | 'X' => {
            let bytes = s;
            let bytes = match flags.prec {
                Some(p) if p < bytes.len() => &bytes[..p],
                _ => bytes,
            };
            let mut body = String::with_capacity(bytes.len() * 2);
            for (n, b) in bytes.iter().enumerate() {
                if flags.space && n > 0 {
                    body.push(' ');
                }
                if flags.sharp && (flags.space || n == 0) {
                    body.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                if verb == 'x' {
                    let _ = write!(body, "{b:02x}");
                } else {
                    let _ = write!(body, "{b:02X}");
                }
            }
            pad(out, &body, flags, false);
        }
        _ => bad_verb(out, verb, &Value::bytes(s)),
    }
}

fn format_arg(out: &mut Buf, arg: &Value, verb: char, flags: Flags) {
    if verb == 'T' {
        pad(out, arg.type_name(), flags, false);
        return;
    }
    match arg {
        Value::Nil => match verb {
            'v' => pad(out, "<nil>", flags, false),
            _ => bad_verb(out, verb, arg),
        },
        Value::Bool(b) => match verb {
            't' | 'v' => pad(out, if *b { "true" } else { "false" }, flags, false),
            _ => bad_verb(out, verb, arg),
        },
        Value::Int(i) => match verb {
            'd' | 'v' | 'b' | 'o' | 'O' | 'x' | 'X' => format_int(out, *i, verb, flags),
            'c' => pad(out, &char::from_u32(*i as u32).unwrap_or('\u{fffd}').to_string(), flags, false),
            'q' => {
                let c = char::from_u32(*i as u32).unwrap_or('\u{fffd}');
                let mut s = Buf::default();
                s.push('\'');
                quote_char_into(&mut s, c, '\'', flags.plus);
                s.push('\'');
                pad_bytes(out, &s.0, flags);
            }
            'U' => {
                let mut s = format!("U+{:04X}", *i);
                if flags.sharp
                    && let Some(c) = char::from_u32(*i as u32)
                    && is_print(c)
                {
                    let _ = write!(s, " '{c}'");
                }
                pad(out, &s, flags, false);
            }
            'e' | 'E' | 'f' | 'F' | 'g' | 'G' | 's' | 't' => bad_verb(out, verb, arg),
            _ => bad_verb(out, verb, arg),
        },
        Value::Float(f) => match verb {
            'v' | 'e' | 'E' | 'f' | 'F' | 'g' | 'G' => format_float_verb(out, *f, verb, flags),
            _ => bad_verb(out, verb, arg),
        },
        Value::String(s) => {
            if verb == 'v' && flags.sharp {
                pad_bytes(out, &go_quote_bytes(s.as_bytes(), false).0, flags);
            } else {
                format_string(out, s.as_bytes(), verb, flags);
            }
        }
        Value::List(items) => {
            // Go applies the verb to each element.
            let mut body = Buf::default();
            body.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    body.push(' ');
                }
                format_arg(&mut body, item, verb, Flags { width: None, ..flags });
            }
            body.push(']');
            pad_bytes(out, &body.0, Flags { prec: None, ..flags });
        }
        Value::Map(m) => {
            let mut body = Buf::default();
            body.push_str("map[");
            if let Ok(m) = m.try_borrow() {
                for (n, (k, v)) in m.entries.iter().enumerate() {
                    if n > 0 {
                        body.push(' ');
                    }
                    format_arg(&mut body, &Value::from(k.as_str()), verb, Flags { width: None, ..flags });
                    body.push(':');
                    format_arg(&mut body, v, verb, Flags { width: None, ..flags });
                }
            }
            body.push(']');
            pad_bytes(out, &body.0, Flags { prec: None, ..flags });
        }
        Value::Time(t) => match verb {
            'v' | 's' => pad(out, &gotime::time_string(t), flags, false),
            _ => bad_verb(out, verb, arg),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sprintf` over text, for readable assertions.
    fn sprintf(format: &str, args: &[Value]) -> String {
        String::from_utf8_lossy(super::sprintf(format.as_bytes(), args).as_bytes()).into_owned()
    }

    #[test]
    fn strings_keep_their_bytes() {
        let binary = Value::bytes(vec![0xff, b'a', 0xfe]);
        assert_eq!(super::sprintf(b"[%s]", std::slice::from_ref(&binary)).as_bytes(), b"[\xffa\xfe]");
        assert_eq!(super::sprintf(b"%5.2s|", std::slice::from_ref(&binary)).as_bytes(), b"   \xffa|");
        assert_eq!(super::sprintf(b"%q", &[binary]).as_bytes(), br#""\xffa\xfe""#);
    }

    #[test]
    fn floats_print_like_go() {
        assert_eq!(format_float(8080.0, 'g', -1), "8080");
        assert_eq!(format_float(1_000_000.0, 'g', -1), "1e+06");
        assert_eq!(format_float(1_234_567.0, 'g', -1), "1.234567e+06");
        assert_eq!(format_float(0.0001, 'g', -1), "0.0001");
        assert_eq!(format_float(0.00001, 'g', -1), "1e-05");
        assert_eq!(format_float(1.5, 'g', -1), "1.5");
        assert_eq!(format_float(-2.25, 'g', -1), "-2.25");
        assert_eq!(format_float(0.0, 'g', -1), "0");
        assert_eq!(format_float(1.23456, 'f', 2), "1.23");
        assert_eq!(format_float(1234.5678, 'e', 3), "1.235e+03");
        assert_eq!(format_float(1e21, 'f', -1), "1000000000000000000000");
        assert_eq!(format_float(123456.0, 'g', 3), "1.23e+05");
        assert_eq!(format_float(1.5, 'g', 3), "1.5");
    }

    #[test]
    fn sprintf_verbs() {
        let args = [Value::from("a"), Value::Int(42)];
        assert_eq!(sprintf("%s:%d", &args), "a:42");
        assert_eq!(
            sprintf("%5s|%-5s|%05d", &[Value::from("ab"), Value::from("cd"), Value::Int(-42)]),
            "   ab|cd   |-0042"
        );
        assert_eq!(
            sprintf("%q %v %t %%", &[Value::from("x\"y"), Value::Float(1.5), Value::Bool(true)]),
            "\"x\\\"y\" 1.5 true %"
        );
        assert_eq!(
            sprintf("%x %X %o %b", &[Value::Int(255), Value::from("hi"), Value::Int(8), Value::Int(5)]),
            "ff 6869 10 101"
        );
        assert_eq!(sprintf("%.2f %8.3f", &[Value::Float(1.23456), Value::Float(2.5)]), "1.23    2.500");
        assert_eq!(sprintf("%d", &[Value::from("x")]), "%!d(string=x)");
        assert_eq!(sprintf("%s %s", &[Value::from("x")]), "x %!s(MISSING)");
        assert_eq!(sprintf("%s", &[Value::from("x"), Value::Int(1)]), "x%!(EXTRA int=1)");
        assert_eq!(sprintf("%[2]s %[1]s", &[Value::from("a"), Value::from("b")]), "b a");
        assert_eq!(sprintf("%v", &[Value::list(vec![Value::from("a"), Value::Int(1)])]), "[a 1]");
        assert_eq!(sprintf("%6.2v|%.3s", &[Value::Float(1.23456), Value::from("abcdef")]), "   1.2|abc");
    }

    #[test]
    fn quote_escapes_like_go() {
        assert_eq!(go_quote("a\tb\u{1}\u{a0}é"), "\"a\\tb\\x01\\u00a0é\"");
    }
}
