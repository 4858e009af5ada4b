//! The dynamic values a template works on: the subset of Go's `interface{}` world that ESO templates meet.
//!
//! Maps have Go's reference semantics (Sprig's `set`, `unset` and `merge` change the map they are given, and every
//! holder of that map sees the change), so a map is shared through `Rc<RefCell<…>>`. Lists are immutable and
//! shared; every Sprig list function builds a new list, as Sprig does. Values are therefore not `Send`: build them,
//! render, and drop them on one thread.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

/// How deep value walks (printing, JSON, equality, deep copies) may go before they stop. Values nest only as deep
/// as templates build them, but a hostile template could build a very deep one; the walks are recursive.
pub(crate) const MAX_VALUE_DEPTH: usize = 200;

/// A value inside a template: the data (`.`), variables, literals and function results.
///
/// `Debug` never prints the contents (they are secret data); it prints the kind and size only.
#[derive(Clone, Default)]
pub enum Value {
    /// Go's `nil` (a missing value). Printed by an action as `<no value>`, by `printf "%v"` as `<nil>`.
    #[default]
    Nil,
    /// A Go `bool`.
    Bool(bool),
    /// A Go integer (`int`, `int64`; the engine does not tell them apart).
    Int(i64),
    /// A Go `float64` (every number that `fromJson` / `fromYaml` produce is one, as in Go).
    Float(f64),
    /// A Go `string`: any bytes, not necessarily UTF-8 (`b64dec` of a keystore, a binary provider value).
    String(GoString),
    /// A Go slice (`[]interface{}` / `[]string`).
    List(Rc<List>),
    /// A Go map with string keys, shared by reference like a Go map.
    Map(MapRef),
    /// A Go `time.Time` (from `now`, `toDate`, `dateModify`).
    Time(jiff::Zoned),
}

/// A Go `string`: a sequence of bytes that is usually, but not necessarily, UTF-8. Functions that work on bytes
/// (printing, `b64enc`, hashes, `trim`, `replace`, …) keep every byte; functions that work on characters read
/// invalid UTF-8 as U+FFFD, as Go's rune iteration does.
///
/// `Debug` prints the length only: strings hold secret data.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoString(Vec<u8>);

impl GoString {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The text, if the bytes are UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The text, with invalid UTF-8 read as U+FFFD (borrowed when the bytes are UTF-8).
    pub fn to_str_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// Length in bytes (Go's `len`).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for GoString {
    fn from(s: String) -> Self {
        GoString(s.into_bytes())
    }
}

impl From<&str> for GoString {
    fn from(s: &str) -> Self {
        GoString(s.as_bytes().to_vec())
    }
}

impl From<Vec<u8>> for GoString {
    fn from(bytes: Vec<u8>) -> Self {
        GoString(bytes)
    }
}

impl From<&[u8]> for GoString {
    fn from(bytes: &[u8]) -> Self {
        GoString(bytes.to_vec())
    }
}

impl From<Cow<'_, str>> for GoString {
    fn from(s: Cow<'_, str>) -> Self {
        GoString(s.into_owned().into_bytes())
    }
}

impl fmt::Debug for GoString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GoString(<{} bytes>)", self.0.len())
    }
}

/// The items of a list value. Dereferences to `Vec<Value>`.
#[derive(Clone, Default)]
pub struct List(pub Vec<Value>);

impl std::ops::Deref for List {
    type Target = Vec<Value>;
    fn deref(&self) -> &Vec<Value> {
        &self.0
    }
}

/// Drops nested values without recursion: a template can build values nested far deeper than the stack allows
/// (a map inside a map inside a map…), and the default recursive drop would overflow the stack.
fn drop_iteratively(mut stack: Vec<Value>) {
    while let Some(value) = stack.pop() {
        match value {
            Value::Map(rc) => {
                if let Ok(cell) = Rc::try_unwrap(rc) {
                    let mut map = cell.into_inner();
                    stack.extend(std::mem::take(&mut map.entries).into_values());
                }
            }
            Value::List(rc) => {
                if let Ok(mut list) = Rc::try_unwrap(rc) {
                    stack.append(&mut list.0);
                }
            }
            _ => {}
        }
    }
}

impl Drop for List {
    fn drop(&mut self) {
        if self.0.iter().any(|v| matches!(v, Value::Map(_) | Value::List(_))) {
            drop_iteratively(std::mem::take(&mut self.0));
        }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        if self.entries.values().any(|v| matches!(v, Value::Map(_) | Value::List(_))) {
            drop_iteratively(std::mem::take(&mut self.entries).into_values().collect());
        }
    }
}

/// A shared, mutable map: the engine's `map[string]string` / `map[string]interface{}`.
pub type MapRef = Rc<RefCell<Map>>;

/// The contents of a map value. Keys iterate in sorted order (Go sorts map keys when it ranges or prints).
#[derive(Clone, Default)]
pub struct Map {
    /// The entries, sorted by key.
    pub entries: BTreeMap<String, Value>,
    /// `true` for Go's `map[string]string` (the ESO data map, `split`): `index` of a missing key gives `""`.
    /// `false` for `map[string]interface{}`: `index` of a missing key gives `nil`.
    pub strings_only: bool,
}

impl Value {
    /// The ESO data map: every key maps to a string (any bytes), `index . "missing"` gives `""`.
    pub fn string_map<K: Into<String>, V: Into<GoString>>(entries: impl IntoIterator<Item = (K, V)>) -> Value {
        let entries = entries.into_iter().map(|(k, v)| (k.into(), Value::String(v.into()))).collect();
        Value::Map(Rc::new(RefCell::new(Map { entries, strings_only: true })))
    }

    /// A `map[string]interface{}`.
    pub fn map(entries: BTreeMap<String, Value>) -> Value {
        Value::Map(Rc::new(RefCell::new(Map { entries, strings_only: false })))
    }

    /// A list.
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Rc::new(List(items)))
    }

    /// A string value holding `bytes` (which need not be UTF-8).
    pub fn bytes(bytes: impl Into<Vec<u8>>) -> Value {
        Value::String(GoString(bytes.into()))
    }

    /// The string inside, if this is a string of UTF-8 text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => s.as_str(),
            _ => None,
        }
    }

    /// The bytes inside, if this is a string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::String(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// Go's truth: false, 0, nil, and empty strings, lists and maps are false; everything else is true.
    pub fn is_true(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.borrow().entries.is_empty(),
            Value::Time(_) => true,
        }
    }

    /// Sprig's `empty`: the same as Go's falsiness (a time is never empty).
    pub(crate) fn is_empty(&self) -> bool {
        !self.is_true()
    }

    /// The Go type name, as Go's errors and `typeOf` print it.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(m) => {
                if m.borrow().strings_only {
                    "map[string]string"
                } else {
                    "map[string]interface {}"
                }
            }
            Value::Time(_) => "time.Time",
        }
    }

    /// The Go reflect kind name, as Sprig's `kindOf` prints it.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::Time(_) => "struct",
        }
    }

    /// A rough size used to charge work against the step budget: bytes of a string, entries of a collection.
    pub(crate) fn shallow_size(&self) -> usize {
        match self {
            Value::String(s) => s.len(),
            Value::List(l) => l.len(),
            Value::Map(m) => m.borrow().entries.len(),
            _ => 0,
        }
    }

    /// A copy that shares nothing with the original (Sprig's `deepCopy`). Fails only past [`MAX_VALUE_DEPTH`].
    pub(crate) fn deep_copy(&self, depth: usize) -> Option<Value> {
        if depth > MAX_VALUE_DEPTH {
            return None;
        }
        Some(match self {
            Value::List(l) => {
                let mut items = Vec::with_capacity(l.len());
                for item in l.iter() {
                    items.push(item.deep_copy(depth + 1)?);
                }
                Value::list(items)
            }
            Value::Map(m) => {
                let m = m.borrow();
                let mut entries = BTreeMap::new();
                for (k, v) in &m.entries {
                    entries.insert(k.clone(), v.deep_copy(depth + 1)?);
                }
                Value::Map(Rc::new(RefCell::new(Map { entries, strings_only: m.strings_only })))
            }
            other => other.clone(),
        })
    }

    /// Go's `reflect.DeepEqual` over these values: same type and same contents. `None` past [`MAX_VALUE_DEPTH`].
    pub(crate) fn deep_equal(&self, other: &Value, depth: usize) -> Option<bool> {
        if depth > MAX_VALUE_DEPTH {
            return None;
        }
        Some(match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Time(a), Value::Time(b)) => a == b,
            (Value::List(a), Value::List(b)) => {
                if Rc::ptr_eq(a, b) {
                    return Some(true);
                }
                if a.len() != b.len() {
                    return Some(false);
                }
                for (x, y) in a.iter().zip(b.iter()) {
                    if !x.deep_equal(y, depth + 1)? {
                        return Some(false);
                    }
                }
                true
            }
            (Value::Map(a), Value::Map(b)) => {
                if Rc::ptr_eq(a, b) {
                    return Some(true);
                }
                let (a, b) = (a.borrow(), b.borrow());
                if a.strings_only != b.strings_only || a.entries.len() != b.entries.len() {
                    return Some(false);
                }
                for ((ka, va), (kb, vb)) in a.entries.iter().zip(b.entries.iter()) {
                    if ka != kb || !va.deep_equal(vb, depth + 1)? {
                        return Some(false);
                    }
                }
                true
            }
            _ => false,
        })
    }

    /// Whether `target` is reachable from this value (used to refuse creating a map that contains itself).
    pub(crate) fn contains_map(&self, target: &MapRef, depth: usize) -> bool {
        if depth > MAX_VALUE_DEPTH {
            // Too deep to tell: answer "yes" so that the caller refuses, which is the safe side.
            return true;
        }
        match self {
            Value::Map(m) => {
                if Rc::ptr_eq(m, target) {
                    return true;
                }
                match m.try_borrow() {
                    Ok(m) => m.entries.values().any(|v| v.contains_map(target, depth + 1)),
                    Err(_) => true,
                }
            }
            Value::List(l) => l.iter().any(|v| v.contains_map(target, depth + 1)),
            _ => false,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s.into())
    }
}

impl From<GoString> for Value {
    fn from(s: GoString) -> Self {
        Value::String(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::list(items)
    }
}

impl From<BTreeMap<String, Value>> for Value {
    fn from(entries: BTreeMap<String, Value>) -> Self {
        Value::map(entries)
    }
}

impl fmt::Debug for Value {
    /// Shape only: values are secret data and never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => write!(f, "Nil"),
            Value::Bool(_) => write!(f, "Bool(..)"),
            Value::Int(_) => write!(f, "Int(..)"),
            Value::Float(_) => write!(f, "Float(..)"),
            Value::String(s) => write!(f, "String(<{} bytes>)", s.len()),
            Value::List(l) => write!(f, "List(<{} items>)", l.len()),
            Value::Map(m) => match m.try_borrow() {
                Ok(m) => write!(f, "Map(<{} entries>)", m.entries.len()),
                Err(_) => write!(f, "Map(<borrowed>)"),
            },
            Value::Time(_) => write!(f, "Time(..)"),
        }
    }
}
