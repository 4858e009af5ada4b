//! Sprig's list, dictionary and default functions.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::{Call, FResult, FuncDef, FuncError, fail, fixed, strval, to_int64, variadic};
use crate::error::LimitExceeded;
use crate::value::{List, MAX_VALUE_DEPTH, MapRef, Value};

pub(crate) const FUNCS: &[FuncDef] = &[
    // Lists.
    variadic("list", 0, list),
    variadic("tuple", 0, list),
    fixed("first", 1, first),
    fixed("mustFirst", 1, first),
    fixed("last", 1, last),
    fixed("mustLast", 1, last),
    fixed("rest", 1, rest),
    fixed("mustRest", 1, rest),
    fixed("initial", 1, initial),
    fixed("mustInitial", 1, initial),
    fixed("append", 2, push),
    fixed("push", 2, push),
    fixed("mustAppend", 2, push),
    fixed("mustPush", 2, push),
    fixed("prepend", 2, prepend),
    fixed("mustPrepend", 2, prepend),
    variadic("concat", 0, concat),
    fixed("reverse", 1, reverse),
    fixed("mustReverse", 1, reverse),
    fixed("uniq", 1, uniq),
    fixed("mustUniq", 1, uniq),
    variadic("without", 1, without),
    variadic("mustWithout", 1, without),
    fixed("has", 2, has),
    fixed("mustHas", 2, has),
    fixed("compact", 1, compact),
    fixed("mustCompact", 1, compact),
    variadic("slice", 1, slice),
    variadic("mustSlice", 1, slice),
    fixed("chunk", 2, chunk),
    fixed("mustChunk", 2, chunk),
    // Dictionaries.
    variadic("dict", 0, dict),
    fixed("get", 2, get),
    fixed("set", 3, set),
    fixed("unset", 2, unset),
    fixed("hasKey", 2, has_key),
    variadic("pluck", 1, pluck),
    variadic("keys", 0, keys),
    fixed("values", 1, values),
    variadic("pick", 1, pick),
    variadic("omit", 1, omit),
    variadic("merge", 1, merge),
    variadic("mustMerge", 1, merge),
    variadic("mergeOverwrite", 1, merge_overwrite),
    variadic("mustMergeOverwrite", 1, merge_overwrite),
    variadic("dig", 3, dig),
    fixed("deepCopy", 1, deep_copy),
    fixed("mustDeepCopy", 1, deep_copy),
    // Defaults and flow.
    variadic("default", 1, default),
    fixed("empty", 1, empty),
    variadic("coalesce", 0, coalesce),
    variadic("all", 0, all),
    variadic("any", 0, any),
    fixed("ternary", 3, ternary),
    fixed("deepEqual", 2, deep_equal),
];

fn list_arg(c: &Call<'_>, i: usize, what: &str) -> Result<Rc<List>, FuncError> {
    match c.value(i) {
        Value::List(l) => Ok(l.clone()),
        Value::Nil => Err(fail("runtime error: invalid memory address or nil pointer dereference")),
        other => Err(fail(format!("Cannot {what} on type {}", other.kind_name()))),
    }
}

fn too_deep() -> FuncError {
    FuncError::Limit(LimitExceeded::ValueDepth)
}

fn list(c: &mut Call<'_>) -> FResult {
    Ok(Value::list(std::mem::take(&mut c.args)))
}

fn first(c: &mut Call<'_>) -> FResult {
    let l = list_arg(c, 0, "find first")?;
    Ok(l.first().cloned().unwrap_or_default())
}

fn last(c: &mut Call<'_>) -> FResult {
    let l = list_arg(c, 0, "find last")?;
    Ok(l.last().cloned().unwrap_or_default())
}

fn rest(c: &mut Call<'_>) -> FResult {
    let l = list_arg(c, 0, "find rest")?;
    Ok(Value::list(l.iter().skip(1).cloned().collect()))
}

fn initial(c: &mut Call<'_>) -> FResult {
    let l = list_arg(c, 0, "find initial")?;
    Ok(Value::list(l.iter().take(l.len().saturating_sub(1)).cloned().collect()))
}

fn push(c: &mut Call<'_>) -> FResult {
    let l = list_arg(c, 0, "push")?;
    let mut items = Vec::with_capacity(l.len() + 1);
    items.extend(l.iter().cloned());
    items.push(c.take(1));
    Ok(Value::list(items))
}

fn prepend(c: &mut Call<'_>) -> FResult {
    let l = list_arg(c, 0, "prepend")?;
    let mut items = Vec::with_capacity(l.len() + 1);
    items.push(c.take(1));
    items.extend(l.iter().cloned());
    Ok(Value::list(items))
}

fn concat(c: &mut Call<'_>) -> FResult {
    let mut items = Vec::new();
    for v in &c.args {
        match v {
            Value::List(l) => items.extend(l.iter().cloned()),
            other => return Err(fail(format!("Cannot concat type {} as list", other.kind_name()))),
        }
    }
    Ok(Value::list(items))
}

fn reverse(c: &mut Call<'_>) -> FResult {
    let l = list_arg(c, 0, "find reverse")?;
    Ok(Value::list(l.iter().rev().cloned().collect()))
}

fn contains_value(haystack: &[Value], needle: &Value) -> Result<bool, FuncError> {
    for h in haystack {
        if needle.deep_equal(h, 0).ok_or_else(too_deep)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn uniq(c: &mut Call<'_>) -> FResult {
    let l = list_arg(c, 0, "find uniq")?;
    let mut out: Vec<Value> = Vec::new();
    for item in l.iter() {
        if !contains_value(&out, item)? {
            out.push(item.clone());
        }
    }
    Ok(Value::list(out))
}

fn without(c: &mut Call<'_>) -> FResult {
    let l = list_arg(c, 0, "find without")?;
    let omit = &c.args[1..];
    let mut out = Vec::new();
    for item in l.iter() {
        if !contains_value(omit, item)? {
            out.push(item.clone());
        }
    }
    Ok(Value::list(out))
}

fn has(c: &mut Call<'_>) -> FResult {
    match c.value(1) {
        Value::Nil => Ok(Value::Bool(false)),
        Value::List(l) => Ok(Value::Bool(contains_value(l, c.value(0))?)),
        other => Err(fail(format!("Cannot find has on type {}", other.kind_name()))),
    }
}

fn compact(c: &mut Call<'_>) -> FResult {
    let l = list_arg(c, 0, "compact")?;
    Ok(Value::list(l.iter().filter(|v| !v.is_empty()).cloned().collect()))
}

fn slice(c: &mut Call<'_>) -> FResult {
    let l = match c.value(0) {
        Value::List(l) => l.clone(),
        other => return Err(fail(format!("list should be type of slice or array but {}", other.kind_name()))),
    };
    if l.is_empty() {
        return Ok(Value::Nil);
    }
    let start = if c.len() > 1 { to_int64(c.value(1)) } else { 0 };
    let end = if c.len() > 2 { to_int64(c.value(2)) } else { l.len() as i64 };
    if start < 0 || end < start || end > l.len() as i64 {
        return Err(fail("reflect: slice index out of range"));
    }
    Ok(Value::list(l[start as usize..end as usize].to_vec()))
}

fn chunk(c: &mut Call<'_>) -> FResult {
    let size = c.int(0)?;
    let l = list_arg(c, 1, "chunk")?;
    if size <= 0 {
        return Err(fail("runtime error: chunk size must be positive"));
    }
    Ok(Value::list(l.chunks(size as usize).map(|ch| Value::list(ch.to_vec())).collect()))
}

fn dict(c: &mut Call<'_>) -> FResult {
    let mut entries = BTreeMap::new();
    let mut args = std::mem::take(&mut c.args).into_iter();
    while let Some(k) = args.next() {
        let key = strval(&k).to_str_lossy().into_owned();
        let value = args.next().unwrap_or_else(|| Value::from(String::new()));
        entries.insert(key, value);
    }
    Ok(Value::map(entries))
}

fn get(c: &mut Call<'_>) -> FResult {
    let m = c.map(0)?;
    let key = c.str(1)?;
    let key: &str = &key;
    Ok(m.borrow().entries.get(key).cloned().unwrap_or_else(|| Value::from(String::new())))
}

/// Inserts into a map, refusing to make the map contain itself (Go would loop forever printing it).
fn insert(m: &MapRef, key: String, value: Value) -> Result<(), FuncError> {
    if value.contains_map(m, 0) {
        return Err(fail("a map cannot contain itself"));
    }
    let mut m = m.try_borrow_mut().map_err(|_| fail("map is in use"))?;
    if !matches!(value, Value::String(_)) {
        m.strings_only = false;
    }
    m.entries.insert(key, value);
    Ok(())
}

fn set(c: &mut Call<'_>) -> FResult {
    let m = c.map(0)?;
    let key = c.str(1)?.into_owned();
    let value = c.take(2);
    insert(&m, key, value)?;
    Ok(Value::Map(m))
}

fn unset(c: &mut Call<'_>) -> FResult {
    let m = c.map(0)?;
    let key = c.str(1)?.into_owned();
    m.try_borrow_mut().map_err(|_| fail("map is in use"))?.entries.remove(&key);
    Ok(Value::Map(m))
}

fn has_key(c: &mut Call<'_>) -> FResult {
    let m = c.map(0)?;
    let key = c.str(1)?;
    let key: &str = &key;
    Ok(Value::Bool(m.borrow().entries.contains_key(key)))
}

fn pluck(c: &mut Call<'_>) -> FResult {
    let key = c.str(0)?.into_owned();
    let mut out = Vec::new();
    for i in 1..c.len() {
        let m = c.map(i)?;
        if let Some(v) = m.borrow().entries.get(&key) {
            out.push(v.clone());
        }
    }
    Ok(Value::list(out))
}

/// Sprig returns keys in Go's random map order; we sort them so renders are reproducible.
fn keys(c: &mut Call<'_>) -> FResult {
    let mut out = Vec::new();
    for i in 0..c.len() {
        let m = c.map(i)?;
        out.extend(m.borrow().entries.keys().cloned());
    }
    out.sort();
    Ok(super::string_list(out))
}

/// In key order (Sprig: Go's random map order).
fn values(c: &mut Call<'_>) -> FResult {
    let m = c.map(0)?;
    let out: Vec<Value> = m.borrow().entries.values().cloned().collect();
    Ok(Value::list(out))
}

fn pick(c: &mut Call<'_>) -> FResult {
    let m = c.map(0)?;
    let mut entries = BTreeMap::new();
    for i in 1..c.len() {
        let key = c.str(i)?;
        let key: &str = &key;
        if let Some(v) = m.borrow().entries.get(key) {
            entries.insert(key.to_owned(), v.clone());
        }
    }
    Ok(Value::map(entries))
}

fn omit(c: &mut Call<'_>) -> FResult {
    let m = c.map(0)?;
    let mut drop = Vec::new();
    for i in 1..c.len() {
        drop.push(c.str(i)?.into_owned());
    }
    let entries =
        m.borrow().entries.iter().filter(|(k, _)| !drop.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    Ok(Value::map(entries))
}

/// mergo's `Merge` / `MergeWithOverwrite` for maps: nested maps are merged in place; otherwise a source value
/// goes in when the destination lacks the key or holds an empty value (or always, with `overwrite`).
fn merge_into(dst: &MapRef, src: &MapRef, overwrite: bool, depth: usize) -> Result<(), FuncError> {
    if depth > MAX_VALUE_DEPTH {
        return Err(too_deep());
    }
    if Rc::ptr_eq(dst, src) {
        return Ok(());
    }
    let src_entries: Vec<(String, Value)> = src.borrow().entries.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for (key, sv) in src_entries {
        let dv = dst.borrow().entries.get(&key).cloned();
        if let (Some(Value::Map(dm)), Value::Map(sm)) = (&dv, &sv) {
            merge_into(dm, sm, overwrite, depth + 1)?;
            continue;
        }
        if matches!(sv, Value::Nil) && !overwrite {
            continue;
        }
        let dst_empty = dv.as_ref().is_none_or(Value::is_empty);
        if overwrite || dst_empty {
            insert(dst, key, sv)?;
        }
    }
    Ok(())
}

fn merge_all(c: &mut Call<'_>, overwrite: bool) -> FResult {
    let dst = c.map(0)?;
    for i in 1..c.len() {
        let src = c.map(i)?;
        merge_into(&dst, &src, overwrite, 0)?;
    }
    Ok(Value::Map(dst))
}

fn merge(c: &mut Call<'_>) -> FResult {
    merge_all(c, false)
}

fn merge_overwrite(c: &mut Call<'_>) -> FResult {
    merge_all(c, true)
}

fn dig(c: &mut Call<'_>) -> FResult {
    let n = c.len();
    let mut current = c.map(n - 1)?;
    let default = c.value(n - 2).clone();
    let mut keys = Vec::with_capacity(n - 2);
    for i in 0..n - 2 {
        keys.push(c.str(i)?.into_owned());
    }
    for (i, key) in keys.iter().enumerate() {
        let step = current.borrow().entries.get(key).cloned();
        let Some(step) = step else { return Ok(default) };
        if i == keys.len() - 1 {
            return Ok(step);
        }
        current = match step {
            Value::Map(m) => m,
            _ => return Err(fail("interface conversion: value is not a map[string]interface {}")),
        };
    }
    Ok(default)
}

fn deep_copy(c: &mut Call<'_>) -> FResult {
    c.value(0).deep_copy(0).ok_or_else(too_deep)
}

fn default(c: &mut Call<'_>) -> FResult {
    if c.len() < 2 || c.value(1).is_empty() {
        return Ok(c.take(0));
    }
    Ok(c.take(1))
}

fn empty(c: &mut Call<'_>) -> FResult {
    Ok(Value::Bool(c.value(0).is_empty()))
}

fn coalesce(c: &mut Call<'_>) -> FResult {
    Ok(c.args.iter().find(|v| !v.is_empty()).cloned().unwrap_or_default())
}

fn all(c: &mut Call<'_>) -> FResult {
    Ok(Value::Bool(c.args.iter().all(|v| !v.is_empty())))
}

fn any(c: &mut Call<'_>) -> FResult {
    Ok(Value::Bool(c.args.iter().any(|v| !v.is_empty())))
}

fn ternary(c: &mut Call<'_>) -> FResult {
    let cond = c.bool(2)?;
    Ok(if cond { c.take(0) } else { c.take(1) })
}

fn deep_equal(c: &mut Call<'_>) -> FResult {
    Ok(Value::Bool(c.value(0).deep_equal(c.value(1), 0).ok_or_else(too_deep)?))
}
