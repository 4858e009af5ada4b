//! The evaluator: Go's `text/template/exec.go` over [`crate::ast`] with `missingkey=error`.

use std::fmt::Display;

use crate::Limits;
use crate::ast::{Arg, BranchKind, Command, List, Node, Number, Pipe};
use crate::error::{ExecError, LimitExceeded};
use crate::funcs::{Call, FuncDef, FuncError, FuncKind};
use crate::value::Value;

/// An execution error before it is placed in the template source.
pub(crate) struct Fault {
    pub pos: usize,
    pub context: String,
    pub template: String,
    pub kind: ExecError,
}

type R<T> = Result<T, Fault>;

/// What a list of nodes asks the enclosing `range` to do.
enum Flow {
    Normal,
    Break,
    Continue,
}

/// Looks up `define`d templates by name.
pub(crate) trait Templates {
    fn lookup(&self, name: &str) -> Option<&List>;
}

pub(crate) struct Exec<'t, T: Templates> {
    templates: &'t T,
    limits: &'t Limits,
    vars: Vec<(String, Value)>,
    out: Vec<u8>,
    steps: u64,
    call_depth: usize,
    depth: usize,
    current: String,
}

fn context_of(node: &dyn Display) -> String {
    node.to_string()
}

impl<'t, T: Templates> Exec<'t, T> {
    pub fn new(templates: &'t T, limits: &'t Limits, name: &str) -> Self {
        Exec {
            templates,
            limits,
            vars: Vec::new(),
            out: Vec::new(),
            steps: 0,
            call_depth: 0,
            depth: 0,
            current: name.to_owned(),
        }
    }

    /// Runs `list` with `dot` as `.` and `$`, and returns the output.
    pub fn run(mut self, list: &'t List, dot: &Value) -> R<Vec<u8>> {
        self.vars.push(("$".to_owned(), dot.clone()));
        self.walk_list(dot, list)?;
        Ok(self.out)
    }

    fn fault(&self, pos: usize, node: &dyn Display, kind: ExecError) -> Fault {
        Fault { pos, context: context_of(node), template: self.current.clone(), kind }
    }

    fn tick(&mut self, cost: u64, pos: usize, node: &dyn Display) -> R<()> {
        self.steps = self.steps.saturating_add(cost);
        if self.steps > self.limits.max_steps {
            return Err(self.fault(pos, node, ExecError::Limit(LimitExceeded::Steps(self.limits.max_steps))));
        }
        Ok(())
    }

    fn write(&mut self, s: &[u8], pos: usize, node: &dyn Display) -> R<()> {
        if self.out.len() + s.len() > self.limits.max_output_bytes {
            return Err(self.fault(
                pos,
                node,
                ExecError::Limit(LimitExceeded::OutputSize(self.limits.max_output_bytes)),
            ));
        }
        self.out.extend_from_slice(s);
        Ok(())
    }

    /// Counts one level of execution nesting; [`Exec::leave`] undoes it.
    fn enter(&mut self, pos: usize, node: &dyn Display) -> R<()> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(self.fault(pos, node, ExecError::Limit(LimitExceeded::Depth(self.limits.max_depth))));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn walk_list(&mut self, dot: &Value, list: &'t List) -> R<Flow> {
        self.enter(0, &"list")?;
        let mut result = Ok(Flow::Normal);
        for node in list {
            match self.walk(dot, node) {
                Ok(Flow::Normal) => {}
                other => {
                    result = other;
                    break;
                }
            }
        }
        self.leave();
        result
    }

    fn walk(&mut self, dot: &Value, node: &'t Node) -> R<Flow> {
        match node {
            Node::Text(text) => {
                self.tick(1 + text.len() as u64 / 64, 0, &"text")?;
                self.write(text.as_bytes(), 0, &"text")?;
            }
            Node::Action(pipe) => {
                self.tick(1, pipe.pos, pipe)?;
                let value = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.print_value(&value, pipe)?;
                }
            }
            Node::Branch { kind, pipe, list, else_list } => {
                self.tick(1, pipe.pos, pipe)?;
                let mark = self.vars.len();
                let value = self.eval_pipeline(dot, pipe)?;
                let flow = if value.is_true() {
                    match kind {
                        BranchKind::If => self.walk_list(dot, list)?,
                        BranchKind::With => self.walk_list(&value, list)?,
                    }
                } else if let Some(else_list) = else_list {
                    self.walk_list(dot, else_list)?
                } else {
                    Flow::Normal
                };
                self.vars.truncate(mark);
                return Ok(flow);
            }
            Node::Range { pipe, list, else_list } => {
                self.tick(1, pipe.pos, pipe)?;
                self.walk_range(dot, pipe, list, else_list.as_ref())?;
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
            Node::Template { pos, name, pipe } => {
                self.tick(1, *pos, &format_args!("{{{{template {}}}}}", crate::fmt::go_quote(name)))?;
                self.walk_template(dot, *pos, name, pipe.as_ref())?;
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_template(&mut self, dot: &Value, pos: usize, name: &str, pipe: Option<&'t Pipe>) -> R<()> {
        let node = format!("{{{{template {}}}}}", crate::fmt::go_quote(name));
        let templates: &'t T = self.templates;
        let Some(list) = templates.lookup(name) else {
            return Err(self.fault(pos, &node, ExecError::NoSuchTemplate { name: name.to_owned() }));
        };
        if self.call_depth >= self.limits.max_call_depth {
            return Err(self.fault(pos, &node, ExecError::Limit(LimitExceeded::CallDepth(self.limits.max_call_depth))));
        }
        let new_dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Value::Nil,
        };
        let saved_vars = std::mem::replace(&mut self.vars, vec![("$".to_owned(), new_dot.clone())]);
        let saved_name = std::mem::replace(&mut self.current, name.to_owned());
        self.call_depth += 1;
        let result = self.walk_list(&new_dot, list);
        self.call_depth -= 1;
        self.current = saved_name;
        self.vars = saved_vars;
        result.map(|_| ())
    }

    fn walk_range(&mut self, dot: &Value, pipe: &'t Pipe, list: &'t List, else_list: Option<&'t List>) -> R<()> {
        let mark = self.vars.len();
        let value = self.eval_pipeline(dot, pipe)?;
        let mut ran = false;
        match &value {
            Value::List(items) => {
                let items = items.clone();
                for (i, elem) in items.iter().enumerate() {
                    ran = true;
                    if let Flow::Break = self.range_iteration(pipe, list, Value::Int(i as i64), elem.clone())? {
                        break;
                    }
                }
            }
            Value::Map(m) => {
                // Go snapshots the sorted keys before iterating; the body may change the map.
                let entries: Vec<(String, Value)> = match m.try_borrow() {
                    Ok(m) => m.entries.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    Err(_) => Vec::new(),
                };
                for (k, v) in entries {
                    ran = true;
                    if let Flow::Break = self.range_iteration(pipe, list, Value::from(k), v)? {
                        break;
                    }
                }
            }
            Value::Int(n) => {
                if pipe.decl.len() > 1 {
                    return Err(self.fault(pipe.pos, pipe, ExecError::RangeVariables { type_name: "int" }));
                }
                for i in 0..(*n).max(0) {
                    ran = true;
                    if let Flow::Break = self.range_iteration(pipe, list, Value::Nil, Value::Int(i))? {
                        break;
                    }
                }
            }
            Value::Nil => {}
            other => {
                return Err(self.fault(pipe.pos, pipe, ExecError::RangeOver { type_name: other.type_name() }));
            }
        }
        if !ran && let Some(else_list) = else_list {
            self.walk_list(dot, else_list)?;
        }
        self.vars.truncate(mark);
        Ok(())
    }

    fn range_iteration(&mut self, pipe: &'t Pipe, list: &'t List, index: Value, elem: Value) -> R<Flow> {
        self.tick(1, pipe.pos, pipe)?;
        if !pipe.decl.is_empty() {
            if pipe.is_assign {
                if pipe.decl.len() > 1 {
                    self.set_var(&pipe.decl[0], index.clone(), pipe)?;
                    self.set_var(&pipe.decl[1], elem.clone(), pipe)?;
                } else {
                    self.set_var(&pipe.decl[0], elem.clone(), pipe)?;
                }
            } else {
                let n = self.vars.len();
                if let Some(top) = self.vars.get_mut(n.wrapping_sub(1)) {
                    top.1 = elem.clone();
                }
                if pipe.decl.len() > 1
                    && let Some(second) = self.vars.get_mut(n.wrapping_sub(2))
                {
                    second.1 = index;
                }
            }
        }
        let mark = self.vars.len();
        let flow = self.walk_list(&elem, list);
        self.vars.truncate(mark);
        flow
    }

    fn set_var(&mut self, name: &str, value: Value, node: &dyn Display) -> R<()> {
        for (n, v) in self.vars.iter_mut().rev() {
            if n == name {
                *v = value;
                return Ok(());
            }
        }
        Err(self.fault(0, node, ExecError::UndefinedVariable { name: name.to_owned() }))
    }

    fn var_value(&self, name: &str, pos: usize, node: &dyn Display) -> R<Value> {
        for (n, v) in self.vars.iter().rev() {
            if n == name {
                return Ok(v.clone());
            }
        }
        Err(self.fault(pos, node, ExecError::UndefinedVariable { name: name.to_owned() }))
    }

    fn print_value(&mut self, value: &Value, pipe: &Pipe) -> R<()> {
        let text = match value {
            Value::Nil => return self.write(b"<no value>", pipe.pos, pipe),
            Value::String(s) => return self.write(s.as_bytes(), pipe.pos, pipe),
            other => crate::fmt::value_string(other),
        };
        self.write(text.as_bytes(), pipe.pos, pipe)
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'t Pipe) -> R<Value> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or_default();
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone(), pipe)?;
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    /// A parenthesized pipeline: one level of nesting.
    fn eval_nested_pipeline(&mut self, dot: &Value, pipe: &'t Pipe) -> R<Value> {
        self.enter(pipe.pos, pipe)?;
        let result = self.eval_pipeline(dot, pipe);
        self.leave();
        result
    }

    fn not_a_function(&self, cmd: &Command, final_value: &Option<Value>) -> R<()> {
        if cmd.args.len() > 1 || final_value.is_some() {
            let first = cmd.args.first().map(|a| a.to_string()).unwrap_or_default();
            let pos = cmd.args.first().map(Arg::pos).unwrap_or(cmd.pos);
            return Err(self.fault(pos, &first, ExecError::NotAFunction { node: first.clone() }));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &'t Command, final_value: Option<Value>) -> R<Value> {
        let Some(first) = cmd.args.first() else {
            return Ok(Value::Nil);
        };
        self.tick(1, cmd.pos, cmd)?;
        match first {
            Arg::Field { pos, names } => {
                let has_args = cmd.args.len() > 1 || final_value.is_some();
                return self.eval_field_chain(dot.clone(), names, *pos, first, has_args, true);
            }
            Arg::Chain { pos, node, fields } => {
                let base = self.eval_arg(dot, node)?;
                let has_args = cmd.args.len() > 1 || final_value.is_some();
                return self.eval_field_chain(base, fields, *pos, first, has_args, false);
            }
            Arg::Function { pos, def } => {
                return self.eval_function(dot, def, *pos, &cmd.args[1..], final_value, cmd);
            }
            Arg::Pipe(pipe) => {
                self.not_a_function(cmd, &final_value)?;
                return self.eval_nested_pipeline(dot, pipe);
            }
            Arg::Variable { pos, name, fields } => {
                let value = self.var_value(name, *pos, first)?;
                if fields.is_empty() {
                    self.not_a_function(cmd, &final_value)?;
                    return Ok(value);
                }
                let has_args = cmd.args.len() > 1 || final_value.is_some();
                return self.eval_field_chain(value, fields, *pos, first, has_args, false);
            }
            _ => {}
        }
        self.not_a_function(cmd, &final_value)?;
        match first {
            Arg::Bool { value, .. } => Ok(Value::Bool(*value)),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { pos } => Err(self.fault(*pos, first, ExecError::NilCommand)),
            Arg::Number { value, .. } => Ok(number(*value)),
            Arg::Str { value, .. } => Ok(Value::from(value.clone())),
            _ => Ok(Value::Nil),
        }
    }

    /// Evaluates `.a.b.c` on `receiver`. `from_dot` tells whether the receiver is the data (`nil data` errors).
    fn eval_field_chain(
        &mut self,
        receiver: Value,
        names: &[String],
        pos: usize,
        node: &Arg,
        has_args: bool,
        from_dot: bool,
    ) -> R<Value> {
        let mut receiver = receiver;
        let last = names.len().saturating_sub(1);
        for (i, name) in names.iter().enumerate() {
            let args_here = has_args && i == last;
            receiver = match &receiver {
                Value::Map(m) => {
                    if args_here {
                        return Err(self.fault(pos, node, ExecError::FieldHasArguments { field: name.clone() }));
                    }
                    let found = m.try_borrow().ok().and_then(|m| m.entries.get(name).cloned());
                    match found {
                        Some(v) => v,
                        None => return Err(self.fault(pos, node, ExecError::MissingKey { key: name.clone() })),
                    }
                }
                Value::Nil => {
                    let kind = if i == 0 && from_dot {
                        ExecError::NilData { key: name.clone() }
                    } else {
                        ExecError::NilPointer { key: name.clone() }
                    };
                    return Err(self.fault(pos, node, kind));
                }
                other => {
                    return Err(self.fault(
                        pos,
                        node,
                        ExecError::CantEvaluateField { field: name.clone(), type_name: other.type_name() },
                    ));
                }
            };
        }
        Ok(receiver)
    }

    fn eval_arg(&mut self, dot: &Value, arg: &'t Arg) -> R<Value> {
        match arg {
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => Ok(Value::Nil),
            Arg::Bool { value, .. } => Ok(Value::Bool(*value)),
            Arg::Number { value, .. } => Ok(number(*value)),
            Arg::Str { value, .. } => Ok(Value::from(value.clone())),
            Arg::Field { pos, names } => self.eval_field_chain(dot.clone(), names, *pos, arg, false, true),
            Arg::Variable { pos, name, fields } => {
                let value = self.var_value(name, *pos, arg)?;
                if fields.is_empty() {
                    return Ok(value);
                }
                self.eval_field_chain(value, fields, *pos, arg, false, false)
            }
            Arg::Pipe(pipe) => self.eval_nested_pipeline(dot, pipe),
            Arg::Function { pos, def } => self.eval_function(dot, def, *pos, &[], None, arg),
            Arg::Chain { pos, node, fields } => {
                let base = self.eval_arg(dot, node)?;
                self.eval_field_chain(base, fields, *pos, arg, false, false)
            }
        }
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        def: &'static FuncDef,
        pos: usize,
        args: &'t [Arg],
        final_value: Option<Value>,
        node: &dyn Display,
    ) -> R<Value> {
        let got = args.len() + usize::from(final_value.is_some());
        let arity_ok = got >= def.min && def.max.is_none_or(|max| got <= max);
        if !arity_ok {
            let (want, at_least) = match def.max {
                Some(max) if max == def.min => (max, false),
                Some(max) if got > max => (max, false),
                _ => (def.min, true),
            };
            return Err(self.fault(pos, &def.name, ExecError::ArgCount { function: def.name, want, got, at_least }));
        }
        match def.kind {
            FuncKind::And | FuncKind::Or => {
                let want = matches!(def.kind, FuncKind::Or);
                let mut value = Value::Nil;
                for arg in args {
                    value = self.eval_arg(dot, arg)?;
                    if value.is_true() == want {
                        return Ok(value);
                    }
                }
                if let Some(v) = final_value {
                    value = v;
                }
                Ok(value)
            }
            FuncKind::Plain(f) => {
                let mut values = Vec::with_capacity(got);
                for arg in args {
                    values.push(self.eval_arg(dot, arg)?);
                }
                if let Some(v) = final_value {
                    values.push(v);
                }
                let mut call = Call { args: values, limits: self.limits, nil: Value::Nil };
                let result = f(&mut call).map_err(|e| {
                    let kind = match e {
                        FuncError::WrongType { expected, got } => ExecError::WrongType { expected, got },
                        FuncError::InvalidValue { expected } => ExecError::InvalidValue { expected },
                        FuncError::Message(reason) => ExecError::Call { function: def.name, reason },
                        FuncError::Fail(message) => ExecError::Fail { message },
                        FuncError::Limit(limit) => ExecError::Limit(limit),
                    };
                    self.fault(pos, node, kind)
                })?;
                // Charge the work a result took and bound its size: strings by bytes, collections by entries
                // (each entry counted as 16 bytes), so neither doubling strings nor doubling lists can run away.
                let size = result.shallow_size();
                let (bytes, cost) = match &result {
                    Value::String(_) => (size, size / 64),
                    Value::List(_) | Value::Map(_) => (size.saturating_mul(16), size),
                    _ => (0, 0),
                };
                if bytes > self.limits.max_value_bytes {
                    return Err(self.fault(
                        pos,
                        node,
                        ExecError::Limit(LimitExceeded::ValueSize(self.limits.max_value_bytes)),
                    ));
                }
                self.tick(1 + cost as u64, pos, node)?;
                Ok(result)
            }
        }
    }
}

fn number(n: Number) -> Value {
    match n {
        Number::Int(i) => Value::Int(i),
        Number::Float(f) => Value::Float(f),
    }
}
