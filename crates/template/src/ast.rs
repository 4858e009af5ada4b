//! The parse tree, shaped like Go's `text/template/parse` nodes.

use std::fmt;

use crate::funcs::FuncDef;

/// A sequence of nodes (Go's `ListNode`).
pub(crate) type List = Vec<Node>;

/// A statement-level node.
pub(crate) enum Node {
    /// Plain text, copied to the output.
    Text(String),
    /// `{{pipeline}}`: printed unless it declares or assigns variables.
    Action(Pipe),
    /// `{{if}}` / `{{with}}`.
    Branch { kind: BranchKind, pipe: Pipe, list: List, else_list: Option<List> },
    /// `{{range}}`.
    Range { pipe: Pipe, list: List, else_list: Option<List> },
    /// `{{break}}`.
    Break,
    /// `{{continue}}`.
    Continue,
    /// `{{template "name" pipeline}}` (also what `{{block}}` leaves in place).
    Template { pos: usize, name: String, pipe: Option<Pipe> },
}

/// A numeric constant as Go types it when passed to an `interface{}` parameter.
#[derive(Clone, Copy)]
pub(crate) enum Number {
    Int(i64),
    Float(f64),
}

/// Which conditional a [`Node::Branch`] is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum BranchKind {
    If,
    With,
}

/// A pipeline, possibly with variable declarations (`$x := …`) or assignments (`$x = …`).
pub(crate) struct Pipe {
    pub pos: usize,
    pub decl: Vec<String>,
    pub is_assign: bool,
    pub cmds: Vec<Command>,
}

/// One stage of a pipeline: an operand followed by arguments.
pub(crate) struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

/// An operand.
pub(crate) enum Arg {
    /// `.a.b`.
    Field { pos: usize, names: Vec<String> },
    /// `$x.a.b` (or `$`).
    Variable { pos: usize, name: String, fields: Vec<String> },
    /// `.`.
    Dot { pos: usize },
    /// `nil`.
    Nil { pos: usize },
    /// `true` / `false`.
    Bool { pos: usize, value: bool },
    /// A number or character constant, already converted to its Go constant value.
    Number { pos: usize, text: String, value: Number },
    /// A string literal.
    Str { pos: usize, quoted: String, value: crate::value::GoString },
    /// A function name.
    Function { pos: usize, def: &'static FuncDef },
    /// `( pipeline )`.
    Pipe(Box<Pipe>),
    /// `(pipeline).a.b` or `func.a`.
    Chain { pos: usize, node: Box<Arg>, fields: Vec<String> },
}

impl Arg {
    pub fn pos(&self) -> usize {
        match self {
            Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Dot { pos }
            | Arg::Nil { pos }
            | Arg::Bool { pos, .. }
            | Arg::Number { pos, .. }
            | Arg::Str { pos, .. }
            | Arg::Function { pos, .. }
            | Arg::Chain { pos, .. } => *pos,
            Arg::Pipe(p) => p.pos,
        }
    }
}

// Display renders nodes back as template source, as Go's `String()` methods do; error messages use it.

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Field { names, .. } => {
                for n in names {
                    write!(f, ".{n}")?;
                }
                Ok(())
            }
            Arg::Variable { name, fields, .. } => {
                write!(f, "{name}")?;
                for n in fields {
                    write!(f, ".{n}")?;
                }
                Ok(())
            }
            Arg::Dot { .. } => write!(f, "."),
            Arg::Nil { .. } => write!(f, "nil"),
            Arg::Bool { value, .. } => write!(f, "{value}"),
            Arg::Number { text, .. } => write!(f, "{text}"),
            Arg::Str { quoted, .. } => write!(f, "{quoted}"),
            Arg::Function { def, .. } => write!(f, "{}", def.name),
            Arg::Pipe(p) => write!(f, "({p})"),
            Arg::Chain { node, fields, .. } => {
                match node.as_ref() {
                    Arg::Pipe(p) => write!(f, "({p})")?,
                    other => write!(f, "{other}")?,
                }
                for n in fields {
                    write!(f, ".{n}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                write!(f, " ")?;
            }
            write!(f, "{arg}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            write!(f, "{}", self.decl.join(", "))?;
            write!(f, " {} ", if self.is_assign { "=" } else { ":=" })?;
        }
        for (i, cmd) in self.cmds.iter().enumerate() {
            if i > 0 {
                write!(f, " | ")?;
            }
            write!(f, "{cmd}")?;
        }
        Ok(())
    }
}
