//! Errors of parsing and executing templates.
//!
//! Messages follow Go's `text/template` wording (users search for them), but they never contain data values:
//! only template names, positions, template source fragments, function names, key names and Go type names. The one
//! exception is [`ExecError::Fail`], whose message is the text the template author passed to `fail`.

use thiserror::Error;

/// An error from [`crate::Template::parse`] or [`crate::Template::execute`].
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum TemplateError {
    /// The template text is not a valid template.
    #[error("template: {template}:{line}: {message}")]
    Parse {
        /// Name of the template being parsed.
        template: String,
        /// 1-based line of the offending token.
        line: usize,
        /// What is wrong (built from the template source only).
        message: String,
    },
    /// Executing the template failed.
    #[error("template: {parse_name}:{line}:{column}: executing \"{template}\" at <{context}>: {kind}")]
    Execute {
        /// Name of the template (or `define`d template) being executed.
        template: String,
        /// Name of the template whose source holds the failing node.
        parse_name: String,
        /// 1-based line of the failing node.
        line: usize,
        /// 0-based byte column of the failing node (as Go prints it).
        column: usize,
        /// The failing node as template source.
        context: String,
        /// What went wrong.
        kind: Box<ExecError>,
    },
}

impl TemplateError {
    /// A short, bounded category for condition reasons, event reasons and metric labels.
    pub fn category(&self) -> &'static str {
        match self {
            TemplateError::Parse { .. } => "TemplateParseError",
            TemplateError::Execute { kind, .. } if matches!(**kind, ExecError::Limit(_)) => "TemplateLimitExceeded",
            TemplateError::Execute { .. } => "TemplateExecutionError",
        }
    }

    /// Template errors are configuration errors: retrying with the same template and data gives the same result.
    /// (Limits are deterministic too.)
    pub fn is_retryable(&self) -> bool {
        false
    }

    /// The execution error, if this is one.
    pub fn exec_kind(&self) -> Option<&ExecError> {
        match self {
            TemplateError::Execute { kind, .. } => Some(kind),
            TemplateError::Parse { .. } => None,
        }
    }
}

/// What went wrong while executing a template.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum ExecError {
    /// `.key` on a map without that key (ESO runs with `missingkey=error`).
    #[error("map has no entry for key \"{key}\"")]
    MissingKey {
        /// The missing key.
        key: String,
    },
    /// `.key` on a nil value at the root of a field chain.
    #[error("nil data; no entry for key \"{key}\"")]
    NilData {
        /// The key looked up.
        key: String,
    },
    /// `.a.key` where `.a` is nil.
    #[error("nil pointer evaluating interface {{}}.{key}")]
    NilPointer {
        /// The key looked up.
        key: String,
    },
    /// `.key` on something that is not a map.
    #[error("can't evaluate field {field} in type {type_name}")]
    CantEvaluateField {
        /// The field name.
        field: String,
        /// The Go type of the receiver.
        type_name: &'static str,
    },
    /// `.key arg` on a map.
    #[error("{field} is not a method but has arguments")]
    FieldHasArguments {
        /// The field name.
        field: String,
    },
    /// Arguments given to something that is not a function.
    #[error("can't give argument to non-function {node}")]
    NotAFunction {
        /// The node, as template source.
        node: String,
    },
    /// `nil` used as a command.
    #[error("nil is not a command")]
    NilCommand,
    /// A function called with the wrong number of arguments.
    #[error("wrong number of args for {function}: want {}{want} got {got}", if *.at_least { "at least " } else { "" })]
    ArgCount {
        /// The function.
        function: &'static str,
        /// How many it takes.
        want: usize,
        /// How many it got.
        got: usize,
        /// Whether `want` is a minimum.
        at_least: bool,
    },
    /// An argument of the wrong type.
    #[error("wrong type for value; expected {expected}; got {got}")]
    WrongType {
        /// The Go type the function takes.
        expected: &'static str,
        /// The Go type it got.
        got: &'static str,
    },
    /// A nil argument where a function takes a value that cannot be nil.
    #[error("invalid value; expected {expected}")]
    InvalidValue {
        /// The Go type the function takes.
        expected: &'static str,
    },
    /// A function returned an error.
    #[error("error calling {function}: {reason}")]
    Call {
        /// The function.
        function: &'static str,
        /// Why (never contains data values).
        reason: String,
    },
    /// The template called `fail`.
    #[error("error calling fail: {message}")]
    Fail {
        /// The message the template author passed to `fail` (it may contain whatever the author put in it).
        message: String,
    },
    /// `range` over something that cannot be iterated.
    #[error("range can't iterate over value of type {type_name}")]
    RangeOver {
        /// The Go type.
        type_name: &'static str,
    },
    /// `range $i, $v := N` over an integer.
    #[error("can't use value of type {type_name} to iterate over more than one variable")]
    RangeVariables {
        /// The Go type.
        type_name: &'static str,
    },
    /// A variable that is not defined.
    #[error("undefined variable: {name}")]
    UndefinedVariable {
        /// The variable.
        name: String,
    },
    /// `{{template "x"}}` with no such template.
    #[error("template \"{name}\" not defined")]
    NoSuchTemplate {
        /// The template name.
        name: String,
    },
    /// A value cannot be printed.
    #[error("can't print value of type {type_name}")]
    CantPrint {
        /// The Go type.
        type_name: &'static str,
    },
    /// A safety limit was hit.
    #[error("{0}")]
    Limit(LimitExceeded),
}

/// The safety limits that keep a hostile template from hanging or exhausting the controller.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitExceeded {
    /// `{{template}}` calls nested too deeply.
    #[error("exceeded maximum template call depth ({0})")]
    CallDepth(usize),
    /// Control structures, parenthesized pipelines and template calls nested too deeply during execution.
    #[error("exceeded maximum nesting depth ({0})")]
    Depth(usize),
    /// The output grew past the limit.
    #[error("output exceeds the limit of {0} bytes")]
    OutputSize(usize),
    /// A single value grew past the limit.
    #[error("a value exceeds the limit of {0} bytes")]
    ValueSize(usize),
    /// Execution took more steps than allowed.
    #[error("execution exceeded {0} steps")]
    Steps(u64),
    /// A value is nested too deeply to walk.
    #[error("value nested too deeply")]
    ValueDepth,
}
