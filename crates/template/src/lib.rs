//! ESO's template engine as a pure library: Go `text/template` semantics with the Sprig functions ESO vendors and
//! ESO's own functions, as ESO's engine `v2` runs them (`missingkey=error`, the data map exposed as strings,
//! configurable delimiters).
//!
//! ```
//! use std::collections::BTreeMap;
//! use external_secrets_template::render_secret_data;
//!
//! let templates = BTreeMap::from([(
//!     ".dockerconfigjson".to_owned(),
//!     r#"{"auths":{"{{ .registry }}":{"auth":"{{ printf "%s:%s" .username .password | b64enc }}"}}}"#.to_owned(),
//! )]);
//! let data = BTreeMap::from([
//!     ("registry".to_owned(), b"ghcr.io".to_vec()),
//!     ("username".to_owned(), b"me".to_vec()),
//!     ("password".to_owned(), b"pw".to_vec()),
//! ]);
//! let rendered = render_secret_data(&templates, &data).unwrap();
//! assert_eq!(rendered[".dockerconfigjson"], br#"{"auths":{"ghcr.io":{"auth":"bWU6cHc="}}}"#);
//! ```
//!
//! The engine is built as Go's is: a lexer, a parser to a syntax tree and an evaluator. Unknown functions are parse errors. Errors never contain data values (see [`TemplateError`]).
//! Execution is bounded by [`Limits`], so a hostile template cannot hang the controller or exhaust its memory.
//!
//! See `FUNCTIONS.md` in this crate for the function list and the known differences from Go, Sprig and ESO.

use std::collections::BTreeMap;

mod ast;
mod error;
mod exec;
mod fmt;
mod funcs;
mod gotime;
mod json;
mod lex;
mod literal;
mod parse;
mod value;

pub use error::{ExecError, LimitExceeded, TemplateError};
pub use funcs::function_names;
pub use value::{GoString, List, Map, MapRef, Value};

/// The action delimiters. ESO's controller flags `--template-left-delimiter` / `--template-right-delimiter` set
/// them; an empty string means the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delimiters {
    /// The opening delimiter, `{{` by default.
    pub left: String,
    /// The closing delimiter, `}}` by default.
    pub right: String,
}

impl Default for Delimiters {
    fn default() -> Self {
        Delimiters { left: "{{".to_owned(), right: "}}".to_owned() }
    }
}

impl Delimiters {
    /// Delimiters from the controller flags; an empty value means the default, as in Go.
    pub fn new(left: impl Into<String>, right: impl Into<String>) -> Self {
        let (left, right) = (left.into(), right.into());
        Delimiters {
            left: if left.is_empty() { "{{".to_owned() } else { left },
            right: if right.is_empty() { "}}".to_owned() } else { right },
        }
    }
}

/// Bounds on one execution. The defaults suit Kubernetes Secrets (at most 1 MiB of data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest output, in bytes.
    pub max_output_bytes: usize,
    /// Largest string a function may produce, in bytes.
    pub max_value_bytes: usize,
    /// Evaluation steps (nodes, commands, loop iterations, plus the size of function results / 64).
    pub max_steps: u64,
    /// Nested `{{template}}` calls.
    pub max_call_depth: usize,
    /// Nesting during execution: control structure bodies, parenthesized pipelines and template calls
    /// together. Execution recurses along this nesting, so this bounds the stack a render uses.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_output_bytes: 1 << 20,
            max_value_bytes: 4 << 20,
            max_steps: 2_000_000,
            max_call_depth: 100,
            max_depth: 200,
        }
    }
}

/// A parsed template: the main body and the templates it `define`s.
///
/// Parsing checks the syntax, that every function exists and that every variable is declared; executing it
/// evaluates it against data. A parsed template can be executed many times and shared between threads.
pub struct Template {
    name: String,
    source: String,
    main: ast::List,
    /// Whether the body to run is the `define` with the template's own name (Go: a template whose body is empty
    /// is replaced by a `define` of the same name).
    main_is_define: bool,
    defines: BTreeMap<String, ast::List>,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("name", &self.name)
            .field("defines", &self.defines.keys())
            .finish_non_exhaustive()
    }
}

/// 1-based line and 0-based byte column of `pos` in `source`.
fn line_col(source: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(source.len());
    let before = source.get(..pos).unwrap_or(source);
    let line = 1 + before.bytes().filter(|b| *b == b'\n').count();
    let col = match before.rfind('\n') {
        Some(i) => pos - i - 1,
        None => pos,
    };
    (line, col)
}

impl Template {
    /// Parses `text` as the template `name`.
    pub fn parse(name: &str, text: &str, delimiters: &Delimiters) -> Result<Template, TemplateError> {
        let items = lex::lex(text, &delimiters.left, &delimiters.right);
        let parse_error = |pos: usize, message: String| {
            let (line, _) = line_col(text, pos);
            TemplateError::Parse { template: name.to_owned(), line, message }
        };
        let parsed = parse::parse(items).map_err(|f| parse_error(f.pos, f.message))?;
        let mut main_is_define = false;
        if let Some(define) = parsed.defines.get(name)
            && !parse::is_empty_tree(define)
        {
            if parse::is_empty_tree(&parsed.main) {
                main_is_define = true;
            } else {
                return Err(parse_error(
                    text.len(),
                    format!("template: multiple definition of template {}", fmt::go_quote(name)),
                ));
            }
        }
        Ok(Template {
            name: name.to_owned(),
            source: text.to_owned(),
            main: parsed.main,
            main_is_define,
            defines: parsed.defines,
        })
    }

    /// The template's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renders the template with `data` as `.` and `$`, within the default [`Limits`]. The output is bytes, as
    /// Go's is: a template can print strings that are not UTF-8 (`b64dec` of a keystore, binary provider data).
    pub fn execute(&self, data: &Value) -> Result<Vec<u8>, TemplateError> {
        self.execute_with_limits(data, &Limits::default())
    }

    /// Renders the template within `limits`.
    pub fn execute_with_limits(&self, data: &Value, limits: &Limits) -> Result<Vec<u8>, TemplateError> {
        let body = if self.main_is_define { self.defines.get(&self.name).unwrap_or(&self.main) } else { &self.main };
        exec::Exec::new(self, limits, &self.name).run(body, data).map_err(|fault| {
            let (line, column) = line_col(&self.source, fault.pos);
            TemplateError::Execute {
                template: fault.template,
                parse_name: self.name.clone(),
                line,
                column,
                context: fault.context,
                kind: Box::new(fault.kind),
            }
        })
    }
}

impl exec::Templates for Template {
    fn lookup(&self, name: &str) -> Option<&ast::List> {
        if name == self.name && !self.main_is_define {
            return Some(&self.main);
        }
        self.defines.get(name)
    }
}

/// Go's `json.Unmarshal` into an `interface{}`, as ESO's functions and rewrites decode JSON: objects become maps,
/// every number a `float64`. The error says where parsing failed, never what the text holds.
pub fn json_decode(text: &str) -> Result<Value, String> {
    json::decode(text)
}

/// Go's JSON encoding of `value`: `json.Marshal` when `escape_html` (`<`, `>`, `&` escaped), otherwise a
/// `json.Encoder` with `SetEscapeHTML(false)` without its trailing newline. Map keys are sorted, as in Go.
pub fn json_encode(value: &Value, escape_html: bool) -> Result<String, String> {
    json::encode(value, escape_html, None).map_err(|e| e.message().to_owned())
}

/// Go's `fmt.Sprint` of a `float64` (`%v`: `strconv.FormatFloat(f, 'g', -1, 64)`), e.g. `3`, `1.5`, `1e+06`.
/// ESO's `ObjectHash` prints the numbers of unstructured objects this way.
pub fn go_format_float(f: f64) -> String {
    fmt::format_float(f, 'g', -1)
}

/// ESO's template data: every provider value as a string (`map[string]string`), byte for byte (Go strings hold
/// any bytes, so binary values reach the template and the output intact).
pub fn secret_data_value(data: &BTreeMap<String, Vec<u8>>) -> Value {
    Value::string_map(data.iter().map(|(k, v)| (k.clone(), v.clone())))
}

/// Renders ESO's `template.data` (scope `Values`): each template, named after its key, is executed with the
/// provider data; the result maps each key to its rendered bytes. The first failing key stops rendering.
pub fn render_secret_data(
    templates: &BTreeMap<String, String>,
    data: &BTreeMap<String, Vec<u8>>,
) -> Result<BTreeMap<String, Vec<u8>>, TemplateError> {
    render_secret_data_with(templates, data, &Delimiters::default(), &Limits::default())
}

/// [`render_secret_data`] with explicit delimiters and limits.
pub fn render_secret_data_with(
    templates: &BTreeMap<String, String>,
    data: &BTreeMap<String, Vec<u8>>,
    delimiters: &Delimiters,
    limits: &Limits,
) -> Result<BTreeMap<String, Vec<u8>>, TemplateError> {
    let value = secret_data_value(data);
    let mut out = BTreeMap::new();
    for (key, text) in templates {
        let template = Template::parse(key, text, delimiters)?;
        let rendered = template.execute_with_limits(&value, limits)?;
        out.insert(key.clone(), rendered);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        assert_eq!(line_col("ab\ncd{{", 5), (2, 2));
        assert_eq!(line_col("{{ .x }}", 3), (1, 3));
    }

    #[test]
    fn template_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Template>();
    }
}
