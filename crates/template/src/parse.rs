//! The parser: Go's `text/template/parse/parse.go`, from tokens to [`crate::ast`] nodes.

use std::collections::BTreeMap;

use crate::ast::{Arg, BranchKind, Command, List, Node, Pipe};
use crate::funcs;
use crate::lex::{Item, Kind};
use crate::literal;

/// How deeply control structures and parentheses may nest. Execution recurses along the tree, so this bounds the
/// stack a template can use (together with the template call depth limit).
pub(crate) const MAX_NESTING: usize = 100;

/// A parse error before it is given the template name: the message and the byte offset of the offending token.
pub(crate) struct ParseFault {
    pub pos: usize,
    pub message: String,
}

type PResult<T> = Result<T, ParseFault>;

/// The result of parsing one source text: the main body and the templates it defines.
pub(crate) struct Parsed {
    pub main: List,
    pub defines: BTreeMap<String, List>,
}

/// What `text_or_action` produced: a node, or an `{{end}}` / `{{else}}` that closes the enclosing structure.
enum Step {
    Node(Node),
    End,
    Else,
}

struct Parser {
    items: Vec<Item>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
    nesting: usize,
    defines: BTreeMap<String, List>,
}

/// Parses tokens into the main tree and the `define`d templates.
pub(crate) fn parse(items: Vec<Item>) -> PResult<Parsed> {
    let mut parser =
        Parser { items, i: 0, vars: vec!["$".to_owned()], range_depth: 0, nesting: 0, defines: BTreeMap::new() };
    let main = parser.parse_top()?;
    Ok(Parsed { main, defines: parser.defines })
}

/// Go's `IsEmptyTree`: only whitespace text.
pub(crate) fn is_empty_tree(list: &List) -> bool {
    list.iter().all(|n| matches!(n, Node::Text(t) if t.trim_matches(crate::lex::is_space).is_empty()))
}

impl Parser {
    fn eof_item(&self) -> Item {
        let pos = self.items.last().map(|i| i.pos).unwrap_or(0);
        Item { kind: Kind::Eof, pos, val: String::new() }
    }

    fn next(&mut self) -> Item {
        let item = self.items.get(self.i).cloned().unwrap_or_else(|| self.eof_item());
        if self.i < self.items.len() {
            self.i += 1;
        }
        item
    }

    fn backup(&mut self) {
        self.i = self.i.saturating_sub(1);
    }

    fn peek(&self) -> Item {
        self.items.get(self.i).cloned().unwrap_or_else(|| self.eof_item())
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let item = self.next();
            if item.kind != Kind::Space {
                return item;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let item = self.next_non_space();
        self.backup();
        item
    }

    fn error_at<T>(&self, pos: usize, message: String) -> PResult<T> {
        Err(ParseFault { pos, message })
    }

    /// Position of the token just read (Go reports the line of the last token).
    fn here(&self) -> usize {
        let idx = self.i.saturating_sub(1);
        self.items.get(idx).map(|i| i.pos).unwrap_or(0)
    }

    fn errorf<T>(&self, message: String) -> PResult<T> {
        self.error_at(self.here(), message)
    }

    fn unexpected<T>(&self, item: &Item, context: &str) -> PResult<T> {
        if item.kind == Kind::Error {
            return self.error_at(item.pos, item.val.clone());
        }
        self.error_at(item.pos, format!("unexpected {} in {context}", item.describe()))
    }

    fn expect(&mut self, kind: Kind, context: &str) -> PResult<Item> {
        let item = self.next_non_space();
        if item.kind != kind {
            return self.unexpected(&item, context);
        }
        Ok(item)
    }

    fn enter(&mut self) -> PResult<()> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return self.errorf(format!("template nested too deeply (more than {MAX_NESTING} levels)"));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting = self.nesting.saturating_sub(1);
    }

    fn parse_top(&mut self) -> PResult<List> {
        let mut root = Vec::new();
        while self.peek().kind != Kind::Eof {
            if self.peek().kind == Kind::LeftDelim {
                let save = self.i;
                self.next();
                if self.next_non_space().kind == Kind::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.i = save;
            }
            match self.text_or_action()? {
                Step::Node(n) => root.push(n),
                Step::End => return self.errorf("unexpected {{end}}".to_owned()),
                Step::Else => return self.errorf("unexpected {{else}}".to_owned()),
            }
        }
        Ok(root)
    }

    fn add_define(&mut self, name: String, list: List) -> PResult<()> {
        match self.defines.get(&name) {
            Some(existing) if !is_empty_tree(existing) => {
                if !is_empty_tree(&list) {
                    return self
                        .errorf(format!("template: multiple definition of template {}", crate::fmt::go_quote(&name)));
                }
            }
            _ => {
                self.defines.insert(name, list);
            }
        }
        Ok(())
    }

    fn template_name(&mut self, context: &str) -> PResult<String> {
        let token = self.next_non_space();
        match token.kind {
            Kind::String | Kind::RawString => match literal::unquote(&token.val) {
                Ok(s) => Ok(s),
                Err(()) => self.error_at(token.pos, "invalid syntax".to_owned()),
            },
            _ => self.unexpected(&token, context),
        }
    }

    fn parse_definition(&mut self) -> PResult<()> {
        let context = "define clause";
        let name = self.template_name(context)?;
        self.expect(Kind::RightDelim, context)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_owned()]);
        let saved_range = std::mem::take(&mut self.range_depth);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        self.range_depth = saved_range;
        if !matches!(end, Step::End) {
            return self.errorf(format!("unexpected {{{{else}}}} in {context}"));
        }
        self.add_define(name, list)
    }

    fn item_list(&mut self) -> PResult<(List, Step)> {
        let mut list = Vec::new();
        while self.peek_non_space().kind != Kind::Eof {
            match self.text_or_action()? {
                Step::Node(n) => list.push(n),
                other => return Ok((list, other)),
            }
        }
        self.errorf("unexpected EOF".to_owned())
    }

    fn text_or_action(&mut self) -> PResult<Step> {
        let token = self.next_non_space();
        match token.kind {
            Kind::Text => Ok(Step::Node(Node::Text(token.val))),
            Kind::LeftDelim => self.action(),
            _ => self.unexpected(&token, "input"),
        }
    }

    fn action(&mut self) -> PResult<Step> {
        let token = self.next_non_space();
        match token.kind {
            Kind::Block => return self.block_control().map(Step::Node),
            Kind::Break => return self.loop_control("{{break}}", Node::Break).map(Step::Node),
            Kind::Continue => return self.loop_control("{{continue}}", Node::Continue).map(Step::Node),
            Kind::Else => return self.else_control(),
            Kind::End => {
                self.expect(Kind::RightDelim, "end")?;
                return Ok(Step::End);
            }
            Kind::If => return self.branch_control(BranchKind::If).map(Step::Node),
            Kind::Range => return self.range_control().map(Step::Node),
            Kind::Template => return self.template_control().map(Step::Node),
            Kind::With => return self.branch_control(BranchKind::With).map(Step::Node),
            _ => {}
        }
        self.backup();
        let pipe = self.pipeline("command", Kind::RightDelim)?;
        Ok(Step::Node(Node::Action(pipe)))
    }

    fn loop_control(&mut self, what: &str, node: Node) -> PResult<Node> {
        let token = self.next_non_space();
        if token.kind != Kind::RightDelim {
            return self.unexpected(&token, what);
        }
        if self.range_depth == 0 {
            return self.errorf(format!("{what} outside {{{{range}}}}"));
        }
        Ok(node)
    }

    fn else_control(&mut self) -> PResult<Step> {
        let peek = self.peek_non_space();
        if matches!(peek.kind, Kind::If | Kind::With) {
            // "{{else if …}}" / "{{else with …}}": leave the keyword for the enclosing control to pick up.
            return Ok(Step::Else);
        }
        self.expect(Kind::RightDelim, "else")?;
        Ok(Step::Else)
    }

    /// Parses `pipeline }} list [{{else}} list] {{end}}` for if/with/range.
    fn parse_control(&mut self, context: &str) -> PResult<(Pipe, List, Option<List>)> {
        self.enter()?;
        let mark = self.vars.len();
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, next) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let mut else_list = None;
        if let Step::Else = next {
            let chained = match context {
                "if" => self.peek().kind == Kind::If,
                "with" => self.peek().kind == Kind::With,
                _ => false,
            };
            if chained {
                // {{if a}}…{{else if b}}…{{end}} is {{if a}}…{{else}}{{if b}}…{{end}}{{end}}.
                self.next();
                let kind = if context == "if" { BranchKind::If } else { BranchKind::With };
                let nested = self.branch_control(kind)?;
                else_list = Some(vec![nested]);
            } else {
                let (list, next) = self.item_list()?;
                if !matches!(next, Step::End) {
                    return self.errorf("expected end; found {{else}}".to_owned());
                }
                else_list = Some(list);
            }
        }
        self.vars.truncate(mark);
        self.leave();
        Ok((pipe, list, else_list))
    }

    fn branch_control(&mut self, kind: BranchKind) -> PResult<Node> {
        let context = if kind == BranchKind::If { "if" } else { "with" };
        let (pipe, list, else_list) = self.parse_control(context)?;
        Ok(Node::Branch { kind, pipe, list, else_list })
    }

    fn range_control(&mut self) -> PResult<Node> {
        let (pipe, list, else_list) = self.parse_control("range")?;
        Ok(Node::Range { pipe, list, else_list })
    }

    fn template_control(&mut self) -> PResult<Node> {
        let context = "template clause";
        let name = self.template_name(context)?;
        // Go places a template invocation at its name.
        let pos = self.here();
        let pipe = if self.next_non_space().kind != Kind::RightDelim {
            self.backup();
            Some(self.pipeline(context, Kind::RightDelim)?)
        } else {
            None
        };
        Ok(Node::Template { pos, name, pipe })
    }

    fn block_control(&mut self) -> PResult<Node> {
        let context = "block clause";
        let name = self.template_name(context)?;
        let pos = self.here();
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        self.enter()?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_owned()]);
        let saved_range = std::mem::take(&mut self.range_depth);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        self.range_depth = saved_range;
        self.leave();
        if !matches!(end, Step::End) {
            return self.errorf(format!("unexpected {{{{else}}}} in {context}"));
        }
        self.add_define(name.clone(), list)?;
        Ok(Node::Template { pos, name, pipe: Some(pipe) })
    }

    fn pipeline(&mut self, context: &str, end: Kind) -> PResult<Pipe> {
        let start = self.peek_non_space();
        let mut pipe = Pipe { pos: start.pos, decl: Vec::new(), is_assign: false, cmds: Vec::new() };
        // Declarations or assignments: "$x :=", "$x =", "$i, $v :=".
        loop {
            let v = self.peek_non_space();
            if v.kind != Kind::Variable {
                break;
            }
            let save = self.i;
            self.next();
            let next = self.peek_non_space();
            match next.kind {
                Kind::Assign | Kind::Declare => {
                    pipe.is_assign = next.kind == Kind::Assign;
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.vars.push(v.val);
                    break;
                }
                Kind::Char if next.val == "," => {
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.vars.push(v.val);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().kind {
                            Kind::Variable | Kind::RightDelim | Kind::RightParen => continue,
                            _ => return self.errorf("range can only initialize variables".to_owned()),
                        }
                    }
                    return self.errorf(format!("too many declarations in {context}"));
                }
                _ => {
                    self.i = save;
                    break;
                }
            }
        }
        loop {
            let token = self.next_non_space();
            if token.kind == end {
                self.check_pipeline(&pipe, context)?;
                return Ok(pipe);
            }
            match token.kind {
                Kind::Bool
                | Kind::CharConstant
                | Kind::Dot
                | Kind::Field
                | Kind::Identifier
                | Kind::Number
                | Kind::Nil
                | Kind::RawString
                | Kind::String
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&token, context),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return self.errorf(format!("missing value for {context}"));
        }
        for (i, cmd) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                cmd.args.first(),
                Some(Arg::Bool { .. } | Arg::Dot { .. } | Arg::Nil { .. } | Arg::Number { .. } | Arg::Str { .. })
            ) {
                return self.errorf(format!("non executable command in pipeline stage {}", i + 1));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command { pos, args: Vec::new() };
        loop {
            self.peek_non_space();
            if let Some(operand) = self.operand()? {
                cmd.args.push(operand);
            }
            let token = self.next();
            match token.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RightParen => self.backup(),
                Kind::Pipe => {}
                _ => return self.unexpected(&token, "operand"),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.errorf("empty command".to_owned());
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else { return Ok(None) };
        if self.peek().kind != Kind::Field {
            return Ok(Some(node));
        }
        let chain_pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().kind == Kind::Field {
            let f = self.next();
            fields.push(f.val.trim_start_matches('.').to_owned());
        }
        Ok(Some(match node {
            // Go places a field chain at its first chained field.
            Arg::Field { mut names, .. } => {
                names.extend(fields);
                Arg::Field { pos: chain_pos, names }
            }
            Arg::Variable { name, fields: mut own, .. } => {
                own.extend(fields);
                Arg::Variable { pos: chain_pos, name, fields: own }
            }
            Arg::Bool { .. } | Arg::Str { .. } | Arg::Number { .. } | Arg::Nil { .. } | Arg::Dot { .. } => {
                return self.error_at(
                    chain_pos,
                    format!("unexpected . after term {}", crate::fmt::go_quote(&node.to_string())),
                );
            }
            other => Arg::Chain { pos: chain_pos, node: Box::new(other), fields },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let token = self.next_non_space();
        let pos = token.pos;
        Ok(Some(match token.kind {
            Kind::Identifier => match funcs::lookup(&token.val) {
                Some(def) => Arg::Function { pos, def },
                None => {
                    return self.error_at(pos, format!("function {} not defined", crate::fmt::go_quote(&token.val)));
                }
            },
            Kind::Dot => Arg::Dot { pos },
            Kind::Nil => Arg::Nil { pos },
            Kind::Variable => {
                let mut parts = token.val.split('.');
                let name = parts.next().unwrap_or("$").to_owned();
                if !self.vars.contains(&name) {
                    return self.error_at(pos, format!("undefined variable {}", crate::fmt::go_quote(&name)));
                }
                Arg::Variable { pos, name, fields: parts.map(str::to_owned).collect() }
            }
            Kind::Field => Arg::Field { pos, names: vec![token.val.trim_start_matches('.').to_owned()] },
            Kind::Bool => Arg::Bool { pos, value: token.val == "true" },
            Kind::CharConstant => match literal::char_value(&token.val) {
                Ok(v) => Arg::Number { pos, text: token.val, value: crate::ast::Number::Int(v) },
                Err(()) => {
                    return self.error_at(pos, format!("malformed character constant: {}", token.val));
                }
            },
            Kind::Number => match literal::number_value(&token.val) {
                Ok(value) => Arg::Number { pos, text: token.val, value },
                Err(message) => return self.error_at(pos, message),
            },
            Kind::LeftParen => {
                self.enter()?;
                let pipe = self.pipeline("parenthesized pipeline", Kind::RightParen)?;
                self.leave();
                Arg::Pipe(Box::new(pipe))
            }
            Kind::String | Kind::RawString => match literal::unquote_bytes(&token.val) {
                Ok(value) => Arg::Str { pos, quoted: token.val, value: value.into() },
                Err(()) => return self.error_at(pos, "invalid syntax".to_owned()),
            },
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}
