//! JMESPath, as Chainsaw evaluates the `(...)` expressions of its
//! assertions and templates: the standard grammar and functions, plus
//! `$name` variables (the community edition's bindings: `$namespace`,
//! `$error`, an operation's outputs). Values are serde_json values; numbers
//! compare by value whatever their representation.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// Named values an expression can read as `$name`.
pub type Bindings = HashMap<String, Value>;

#[derive(Debug, Clone, PartialEq)]
pub enum Ast {
    Identity,
    Variable(String),
    Field(String),
    Index(i64),
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Subexpr(Box<Ast>, Box<Ast>),
    /// `lhs[*] rhs`: rhs over each element of an array, nulls dropped.
    Projection(Box<Ast>, Box<Ast>),
    /// `lhs.* rhs`: rhs over each value of an object.
    ValueProjection(Box<Ast>, Box<Ast>),
    Flatten(Box<Ast>),
    /// `lhs[?cond] rhs`.
    Filter(Box<Ast>, Box<Ast>, Box<Ast>),
    Compare(Cmp, Box<Ast>, Box<Ast>),
    And(Box<Ast>, Box<Ast>),
    Or(Box<Ast>, Box<Ast>),
    Not(Box<Ast>),
    Literal(Value),
    MultiList(Vec<Ast>),
    MultiHash(Vec<(String, Ast)>),
    Function(String, Vec<Ast>),
    ExpRef(Box<Ast>),
    Pipe(Box<Ast>, Box<Ast>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Quoted(String),
    Number(i64),
    Literal(Value),
    Raw(String),
    Variable(String),
    Dot,
    Star,
    Flatten,
    LBracket,
    Filter,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Colon,
    Pipe,
    Or,
    And,
    Not,
    Cmp(Cmp),
    LParen,
    RParen,
    At,
    Amp,
    Eof,
}

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            'a'..='z' | 'A'..='Z' | '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            '$' => {
                i += 1;
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                if start == i {
                    return Err("`$` must name a variable".into());
                }
                out.push(Tok::Variable(chars[start..i].iter().collect()));
            }
            '-' | '0'..='9' => {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let n = text
                    .parse::<i64>()
                    .map_err(|_| format!("invalid number {text:?}"))?;
                out.push(Tok::Number(n));
            }
            '"' => {
                let (text, next) = delimited(&chars, i, '"')?;
                let parsed: String = serde_json::from_str(&format!("\"{text}\""))
                    .map_err(|e| format!("invalid quoted identifier: {e}"))?;
                out.push(Tok::Quoted(parsed));
                i = next;
            }
            '\'' => {
                let (text, next) = delimited(&chars, i, '\'')?;
                out.push(Tok::Raw(text.replace("\\'", "'")));
                i = next;
            }
            '`' => {
                let (text, next) = delimited(&chars, i, '`')?;
                let text = text.replace("\\`", "`");
                let value: Value = serde_json::from_str(text.trim())
                    .map_err(|e| format!("invalid JSON literal `{text}`: {e}"))?;
                out.push(Tok::Literal(value));
                i = next;
            }
            '.' => {
                out.push(Tok::Dot);
                i += 1;
            }
            '*' => {
                out.push(Tok::Star);
                i += 1;
            }
            '@' => {
                out.push(Tok::At);
                i += 1;
            }
            ']' => {
                out.push(Tok::RBracket);
                i += 1;
            }
            '{' => {
                out.push(Tok::LBrace);
                i += 1;
            }
            '}' => {
                out.push(Tok::RBrace);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            ':' => {
                out.push(Tok::Colon);
                i += 1;
            }
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            '[' => {
                match chars.get(i + 1) {
                    Some(']') => {
                        out.push(Tok::Flatten);
                        i += 2;
                    }
                    Some('?') => {
                        out.push(Tok::Filter);
                        i += 2;
                    }
                    _ => {
                        out.push(Tok::LBracket);
                        i += 1;
                    }
                };
            }
            '|' => {
                if chars.get(i + 1) == Some(&'|') {
                    out.push(Tok::Or);
                    i += 2;
                } else {
                    out.push(Tok::Pipe);
                    i += 1;
                }
            }
            '&' => {
                if chars.get(i + 1) == Some(&'&') {
                    out.push(Tok::And);
                    i += 2;
                } else {
                    out.push(Tok::Amp);
                    i += 1;
                }
            }
            '!' => {
                if chars.get(i + 1) == Some(&'=') {
                    out.push(Tok::Cmp(Cmp::Ne));
                    i += 2;
                } else {
                    out.push(Tok::Not);
                    i += 1;
                }
            }
            '=' => {
                if chars.get(i + 1) == Some(&'=') {
                    out.push(Tok::Cmp(Cmp::Eq));
                    i += 2;
                } else {
                    return Err("`=` is not an operator (use `==`)".into());
                }
            }
            '<' | '>' => {
                let eq = chars.get(i + 1) == Some(&'=');
                out.push(Tok::Cmp(match (c, eq) {
                    ('<', false) => Cmp::Lt,
                    ('<', true) => Cmp::Le,
                    ('>', false) => Cmp::Gt,
                    _ => Cmp::Ge,
                }));
                i += if eq { 2 } else { 1 };
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    out.push(Tok::Eof);
    Ok(out)
}

/// The text between `chars[open]` and its closing `quote`, escapes kept,
/// and the index after the closing quote.
fn delimited(chars: &[char], open: usize, quote: char) -> Result<(String, usize), String> {
    let mut i = open + 1;
    let mut text = String::new();
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() {
            text.push(chars[i]);
            text.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if chars[i] == quote {
            return Ok((text, i + 1));
        }
        text.push(chars[i]);
        i += 1;
    }
    Err(format!("unterminated {quote}"))
}

fn binding_power(tok: &Tok) -> u8 {
    match tok {
        Tok::Pipe => 1,
        Tok::Or => 2,
        Tok::And => 3,
        Tok::Cmp(_) => 5,
        Tok::Flatten => 9,
        Tok::Star => 20,
        Tok::Filter => 21,
        Tok::Dot => 40,
        Tok::Not => 45,
        Tok::LBrace => 50,
        Tok::LBracket => 55,
        Tok::LParen => 60,
        _ => 0,
    }
}

/// Below this binding power a projection's right-hand side ends.
const PROJECTION_STOP: u8 = 10;

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

/// Parses a JMESPath expression (without the surrounding parentheses
/// Chainsaw uses to mark one).
pub fn parse(src: &str) -> Result<Ast, String> {
    let mut p = Parser {
        toks: lex(src)?,
        pos: 0,
    };
    let ast = p.expression(0)?;
    if p.peek() != &Tok::Eof {
        return Err(format!("unexpected {:?} in {src:?}", p.peek()));
    }
    Ok(ast)
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos]
    }
    fn peek_at(&self, n: usize) -> &Tok {
        self.toks.get(self.pos + n).unwrap_or(&Tok::Eof)
    }
    fn next(&mut self) -> Tok {
        let t = self.toks[self.pos].clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }
    fn expect(&mut self, want: Tok) -> Result<(), String> {
        let got = self.next();
        if got == want {
            Ok(())
        } else {
            Err(format!("expected {want:?}, found {got:?}"))
        }
    }

    fn expression(&mut self, bp: u8) -> Result<Ast, String> {
        let tok = self.next();
        let mut left = self.nud(tok)?;
        while bp < binding_power(self.peek()) {
            let tok = self.next();
            left = self.led(tok, left)?;
        }
        Ok(left)
    }

    fn nud(&mut self, tok: Tok) -> Result<Ast, String> {
        Ok(match tok {
            Tok::Literal(v) => Ast::Literal(v),
            Tok::Raw(s) => Ast::Literal(Value::String(s)),
            Tok::Ident(s) => Ast::Field(s),
            Tok::Quoted(s) => {
                if self.peek() == &Tok::LParen {
                    return Err("a quoted identifier cannot name a function".into());
                }
                Ast::Field(s)
            }
            Tok::Variable(name) => Ast::Variable(name),
            Tok::At => Ast::Identity,
            Tok::Star => {
                let rhs = self.projection_rhs(binding_power(&Tok::Star))?;
                Ast::ValueProjection(Box::new(Ast::Identity), Box::new(rhs))
            }
            Tok::Filter => self.filter(Ast::Identity)?,
            Tok::LBrace => self.multi_hash()?,
            Tok::LParen => {
                let inner = self.expression(0)?;
                self.expect(Tok::RParen)?;
                inner
            }
            Tok::Flatten => {
                let rhs = self.projection_rhs(binding_power(&Tok::Flatten))?;
                Ast::Projection(
                    Box::new(Ast::Flatten(Box::new(Ast::Identity))),
                    Box::new(rhs),
                )
            }
            Tok::Not => Ast::Not(Box::new(self.expression(binding_power(&Tok::Not))?)),
            Tok::Amp => Ast::ExpRef(Box::new(self.expression(0)?)),
            Tok::LBracket => match self.peek() {
                Tok::Number(_) | Tok::Colon => {
                    let index = self.index_expression()?;
                    self.project_if_slice(Ast::Identity, index)?
                }
                Tok::Star if self.peek_at(1) == &Tok::RBracket => {
                    self.next();
                    self.next();
                    let rhs = self.projection_rhs(binding_power(&Tok::Star))?;
                    Ast::Projection(Box::new(Ast::Identity), Box::new(rhs))
                }
                _ => self.multi_list()?,
            },
            other => return Err(format!("unexpected {other:?}")),
        })
    }

    fn led(&mut self, tok: Tok, left: Ast) -> Result<Ast, String> {
        Ok(match tok {
            Tok::Dot => {
                if self.peek() == &Tok::Star {
                    self.next();
                    let rhs = self.projection_rhs(binding_power(&Tok::Dot))?;
                    Ast::ValueProjection(Box::new(left), Box::new(rhs))
                } else {
                    let rhs = self.dot_rhs(binding_power(&Tok::Dot))?;
                    Ast::Subexpr(Box::new(left), Box::new(rhs))
                }
            }
            Tok::Pipe => Ast::Pipe(
                Box::new(left),
                Box::new(self.expression(binding_power(&Tok::Pipe))?),
            ),
            Tok::Or => Ast::Or(
                Box::new(left),
                Box::new(self.expression(binding_power(&Tok::Or))?),
            ),
            Tok::And => Ast::And(
                Box::new(left),
                Box::new(self.expression(binding_power(&Tok::And))?),
            ),
            Tok::Cmp(op) => Ast::Compare(
                op,
                Box::new(left),
                Box::new(self.expression(binding_power(&Tok::Cmp(op)))?),
            ),
            Tok::LParen => {
                let Ast::Field(name) = left else {
                    return Err("only a name can be called as a function".into());
                };
                let mut args = Vec::new();
                while self.peek() != &Tok::RParen {
                    args.push(self.expression(0)?);
                    if self.peek() == &Tok::Comma {
                        self.next();
                    }
                }
                self.expect(Tok::RParen)?;
                Ast::Function(name, args)
            }
            Tok::Filter => self.filter(left)?,
            Tok::Flatten => {
                let rhs = self.projection_rhs(binding_power(&Tok::Flatten))?;
                Ast::Projection(Box::new(Ast::Flatten(Box::new(left))), Box::new(rhs))
            }
            Tok::LBracket => match self.peek() {
                Tok::Number(_) | Tok::Colon => {
                    let index = self.index_expression()?;
                    self.project_if_slice(left, index)?
                }
                _ => {
                    self.expect(Tok::Star)?;
                    self.expect(Tok::RBracket)?;
                    let rhs = self.projection_rhs(binding_power(&Tok::Star))?;
                    Ast::Projection(Box::new(left), Box::new(rhs))
                }
            },
            other => return Err(format!("unexpected {other:?}")),
        })
    }

    fn filter(&mut self, left: Ast) -> Result<Ast, String> {
        let cond = self.expression(0)?;
        self.expect(Tok::RBracket)?;
        let rhs = self.projection_rhs(binding_power(&Tok::Filter))?;
        Ok(Ast::Filter(Box::new(left), Box::new(cond), Box::new(rhs)))
    }

    /// After `[`: `n]` or a slice `a:b:c]`.
    fn index_expression(&mut self) -> Result<Ast, String> {
        let mut parts: [Option<i64>; 3] = [None, None, None];
        let mut idx = 0;
        loop {
            match self.next() {
                Tok::Number(n) => parts[idx] = Some(n),
                Tok::Colon => {
                    idx += 1;
                    if idx > 2 {
                        return Err("too many colons in a slice".into());
                    }
                    continue;
                }
                Tok::RBracket => break,
                other => return Err(format!("unexpected {other:?} in an index")),
            }
            match self.peek() {
                Tok::Colon | Tok::RBracket => {}
                other => return Err(format!("unexpected {other:?} in an index")),
            }
        }
        if idx == 0 {
            let n = parts[0].ok_or("an index needs a number")?;
            Ok(Ast::Index(n))
        } else {
            if parts[2] == Some(0) {
                return Err("a slice step cannot be 0".into());
            }
            Ok(Ast::Slice(parts[0], parts[1], parts[2]))
        }
    }

    fn project_if_slice(&mut self, left: Ast, index: Ast) -> Result<Ast, String> {
        let indexed = Ast::Subexpr(Box::new(left), Box::new(index.clone()));
        if matches!(index, Ast::Slice(..)) {
            let rhs = self.projection_rhs(binding_power(&Tok::Star))?;
            Ok(Ast::Projection(Box::new(indexed), Box::new(rhs)))
        } else {
            Ok(indexed)
        }
    }

    fn projection_rhs(&mut self, bp: u8) -> Result<Ast, String> {
        let next = self.peek().clone();
        if binding_power(&next) < PROJECTION_STOP {
            return Ok(Ast::Identity);
        }
        match next {
            Tok::LBracket | Tok::Filter => self.expression(bp),
            Tok::Dot => {
                self.next();
                self.dot_rhs(bp)
            }
            other => Err(format!("unexpected {other:?} after a projection")),
        }
    }

    fn dot_rhs(&mut self, bp: u8) -> Result<Ast, String> {
        match self.peek() {
            Tok::Ident(_) | Tok::Quoted(_) | Tok::Star => self.expression(bp),
            Tok::LBracket => {
                self.next();
                self.multi_list()
            }
            Tok::LBrace => {
                self.next();
                self.multi_hash()
            }
            other => Err(format!("unexpected {other:?} after `.`")),
        }
    }

    fn multi_list(&mut self) -> Result<Ast, String> {
        let mut items = Vec::new();
        loop {
            items.push(self.expression(0)?);
            match self.next() {
                Tok::Comma => continue,
                Tok::RBracket => break,
                other => return Err(format!("unexpected {other:?} in a multi-select list")),
            }
        }
        Ok(Ast::MultiList(items))
    }

    fn multi_hash(&mut self) -> Result<Ast, String> {
        let mut pairs = Vec::new();
        loop {
            let key = match self.next() {
                Tok::Ident(s) | Tok::Quoted(s) => s,
                other => return Err(format!("unexpected {other:?} as a multi-select key")),
            };
            self.expect(Tok::Colon)?;
            pairs.push((key, self.expression(0)?));
            match self.next() {
                Tok::Comma => continue,
                Tok::RBrace => break,
                other => return Err(format!("unexpected {other:?} in a multi-select hash")),
            }
        }
        Ok(Ast::MultiHash(pairs))
    }
}

/// JMESPath truthiness: false, null, and empty strings, arrays and objects are false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Number(_) => true,
    }
}

/// Deep equality with numbers compared by value (1 == 1.0).
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

/// Parses and evaluates `src` against `current`.
pub fn search(src: &str, current: &Value, bindings: &Bindings) -> Result<Value, String> {
    evaluate(&parse(src)?, current, bindings)
}

pub fn evaluate(ast: &Ast, cur: &Value, b: &Bindings) -> Result<Value, String> {
    Ok(match ast {
        Ast::Identity => cur.clone(),
        Ast::Variable(name) => b
            .get(name)
            .cloned()
            .ok_or_else(|| format!("variable not defined: ${name}"))?,
        Ast::Field(name) => match cur {
            Value::Object(o) => o.get(name).cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        },
        Ast::Index(i) => match cur {
            Value::Array(a) => {
                let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                usize::try_from(idx)
                    .ok()
                    .and_then(|i| a.get(i))
                    .cloned()
                    .unwrap_or(Value::Null)
            }
            _ => Value::Null,
        },
        Ast::Slice(start, stop, step) => match cur {
            Value::Array(a) => Value::Array(slice(a, *start, *stop, *step)),
            _ => Value::Null,
        },
        Ast::Subexpr(l, r) => {
            let base = evaluate(l, cur, b)?;
            evaluate(r, &base, b)?
        }
        Ast::Pipe(l, r) => {
            let base = evaluate(l, cur, b)?;
            evaluate(r, &base, b)?
        }
        Ast::Projection(l, r) => match evaluate(l, cur, b)? {
            Value::Array(items) => project(items.iter(), r, b)?,
            _ => Value::Null,
        },
        Ast::ValueProjection(l, r) => match evaluate(l, cur, b)? {
            Value::Object(o) => project(o.values(), r, b)?,
            _ => Value::Null,
        },
        Ast::Flatten(l) => match evaluate(l, cur, b)? {
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    match item {
                        Value::Array(inner) => out.extend(inner),
                        other => out.push(other),
                    }
                }
                Value::Array(out)
            }
            _ => Value::Null,
        },
        Ast::Filter(l, cond, r) => match evaluate(l, cur, b)? {
            Value::Array(items) => {
                let mut kept = Vec::new();
                for item in items {
                    if truthy(&evaluate(cond, &item, b)?) {
                        kept.push(item);
                    }
                }
                project(kept.iter(), r, b)?
            }
            _ => Value::Null,
        },
        Ast::Compare(op, l, r) => {
            let (x, y) = (evaluate(l, cur, b)?, evaluate(r, cur, b)?);
            match op {
                Cmp::Eq => Value::Bool(equal(&x, &y)),
                Cmp::Ne => Value::Bool(!equal(&x, &y)),
                _ => match (x.as_f64(), y.as_f64()) {
                    (Some(x), Some(y)) => Value::Bool(match op {
                        Cmp::Lt => x < y,
                        Cmp::Le => x <= y,
                        Cmp::Gt => x > y,
                        _ => x >= y,
                    }),
                    _ => Value::Null,
                },
            }
        }
        Ast::And(l, r) => {
            let x = evaluate(l, cur, b)?;
            if truthy(&x) {
                evaluate(r, cur, b)?
            } else {
                x
            }
        }
        Ast::Or(l, r) => {
            let x = evaluate(l, cur, b)?;
            if truthy(&x) {
                x
            } else {
                evaluate(r, cur, b)?
            }
        }
        Ast::Not(e) => Value::Bool(!truthy(&evaluate(e, cur, b)?)),
        Ast::Literal(v) => v.clone(),
        Ast::MultiList(items) => {
            if cur.is_null() {
                Value::Null
            } else {
                Value::Array(
                    items
                        .iter()
                        .map(|e| evaluate(e, cur, b))
                        .collect::<Result<_, _>>()?,
                )
            }
        }
        Ast::MultiHash(pairs) => {
            if cur.is_null() {
                Value::Null
            } else {
                let mut out = Map::new();
                for (k, e) in pairs {
                    out.insert(k.clone(), evaluate(e, cur, b)?);
                }
                Value::Object(out)
            }
        }
        Ast::ExpRef(_) => return Err("an expression reference is only a function argument".into()),
        Ast::Function(name, args) => call(name, args, cur, b)?,
    })
}

fn project<'a>(
    items: impl Iterator<Item = &'a Value>,
    rhs: &Ast,
    b: &Bindings,
) -> Result<Value, String> {
    let mut out = Vec::new();
    for item in items {
        let v = evaluate(rhs, item, b)?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(Value::Array(out))
}

fn slice(a: &[Value], start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> Vec<Value> {
    let len = a.len() as i64;
    let step = step.unwrap_or(1);
    let clamp = |v: i64, lo: i64, hi: i64| v.max(lo).min(hi);
    let norm = |v: i64| if v < 0 { v + len } else { v };
    let mut out = Vec::new();
    if step > 0 {
        let s = clamp(start.map(norm).unwrap_or(0), 0, len);
        let e = clamp(stop.map(norm).unwrap_or(len), 0, len);
        let mut i = s;
        while i < e {
            out.push(a[i as usize].clone());
            i += step;
        }
    } else {
        let s = clamp(start.map(norm).unwrap_or(len - 1), -1, len - 1);
        let e = clamp(stop.map(norm).unwrap_or(-1), -1, len - 1);
        let mut i = s;
        while i > e {
            out.push(a[i as usize].clone());
            i += step;
        }
    }
    out
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

fn call(name: &str, args: &[Ast], cur: &Value, b: &Bindings) -> Result<Value, String> {
    let arity = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!(
                "{name}() takes {n} argument(s), {} given",
                args.len()
            ))
        }
    };
    let eval = |i: usize| evaluate(&args[i], cur, b);
    let expref = |i: usize| match &args[i] {
        Ast::ExpRef(e) => Ok(e.as_ref().clone()),
        _ => Err(format!("{name}() expects an expression reference (&expr)")),
    };
    let wrong = |v: &Value| format!("{name}(): invalid type {}", type_name(v));
    Ok(match name {
        "length" => {
            arity(1)?;
            match eval(0)? {
                Value::String(s) => Value::from(s.chars().count()),
                Value::Array(a) => Value::from(a.len()),
                Value::Object(o) => Value::from(o.len()),
                other => return Err(wrong(&other)),
            }
        }
        "contains" => {
            arity(2)?;
            let (subject, search) = (eval(0)?, eval(1)?);
            match subject {
                Value::String(s) => match search {
                    Value::String(t) => Value::Bool(s.contains(&t)),
                    _ => Value::Bool(false),
                },
                Value::Array(a) => Value::Bool(a.iter().any(|v| equal(v, &search))),
                other => return Err(wrong(&other)),
            }
        }
        "starts_with" | "ends_with" => {
            arity(2)?;
            match (eval(0)?, eval(1)?) {
                (Value::String(s), Value::String(p)) => Value::Bool(if name == "starts_with" {
                    s.starts_with(&p)
                } else {
                    s.ends_with(&p)
                }),
                (other, _) => return Err(wrong(&other)),
            }
        }
        "keys" | "values" => {
            arity(1)?;
            match eval(0)? {
                Value::Object(o) => Value::Array(if name == "keys" {
                    o.keys().map(|k| Value::String(k.clone())).collect()
                } else {
                    o.values().cloned().collect()
                }),
                other => return Err(wrong(&other)),
            }
        }
        "join" => {
            arity(2)?;
            match (eval(0)?, eval(1)?) {
                (Value::String(sep), Value::Array(items)) => {
                    let parts: Result<Vec<String>, String> = items
                        .iter()
                        .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| wrong(v)))
                        .collect();
                    Value::String(parts?.join(&sep))
                }
                (other, _) => return Err(wrong(&other)),
            }
        }
        "to_string" => {
            arity(1)?;
            match eval(0)? {
                Value::String(s) => Value::String(s),
                other => Value::String(other.to_string()),
            }
        }
        "to_number" => {
            arity(1)?;
            match eval(0)? {
                Value::Number(n) => Value::Number(n),
                Value::String(s) => s.trim().parse::<f64>().map(number).unwrap_or(Value::Null),
                _ => Value::Null,
            }
        }
        "to_array" => {
            arity(1)?;
            match eval(0)? {
                Value::Array(a) => Value::Array(a),
                other => Value::Array(vec![other]),
            }
        }
        "type" => {
            arity(1)?;
            Value::String(type_name(&eval(0)?).into())
        }
        "not_null" => {
            for i in 0..args.len() {
                let v = eval(i)?;
                if !v.is_null() {
                    return Ok(v);
                }
            }
            Value::Null
        }
        "abs" | "ceil" | "floor" => {
            arity(1)?;
            let v = eval(0)?;
            let f = v.as_f64().ok_or_else(|| wrong(&v))?;
            number(match name {
                "abs" => f.abs(),
                "ceil" => f.ceil(),
                _ => f.floor(),
            })
        }
        "sum" | "avg" | "max" | "min" => {
            arity(1)?;
            let v = eval(0)?;
            let Value::Array(items) = &v else {
                return Err(wrong(&v));
            };
            if matches!(name, "max" | "min") && items.iter().all(Value::is_string) {
                let mut strs: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                strs.sort_unstable();
                let pick = if name == "max" {
                    strs.last()
                } else {
                    strs.first()
                };
                return Ok(pick
                    .map(|s| Value::String((*s).into()))
                    .unwrap_or(Value::Null));
            }
            let nums: Vec<f64> = items
                .iter()
                .map(|v| v.as_f64().ok_or_else(|| wrong(v)))
                .collect::<Result<_, _>>()?;
            match name {
                "sum" => number(nums.iter().sum()),
                "avg" if nums.is_empty() => Value::Null,
                "avg" => number(nums.iter().sum::<f64>() / nums.len() as f64),
                "max" => nums
                    .iter()
                    .cloned()
                    .reduce(f64::max)
                    .map(number)
                    .unwrap_or(Value::Null),
                _ => nums
                    .iter()
                    .cloned()
                    .reduce(f64::min)
                    .map(number)
                    .unwrap_or(Value::Null),
            }
        }
        "reverse" => {
            arity(1)?;
            match eval(0)? {
                Value::Array(mut a) => {
                    a.reverse();
                    Value::Array(a)
                }
                Value::String(s) => Value::String(s.chars().rev().collect()),
                other => return Err(wrong(&other)),
            }
        }
        "sort" => {
            arity(1)?;
            match eval(0)? {
                Value::Array(mut a) => {
                    a.sort_by(order);
                    Value::Array(a)
                }
                other => return Err(wrong(&other)),
            }
        }
        "merge" => {
            let mut out = Map::new();
            for i in 0..args.len() {
                match eval(i)? {
                    Value::Object(o) => out.extend(o),
                    other => return Err(wrong(&other)),
                }
            }
            Value::Object(out)
        }
        "map" => {
            arity(2)?;
            let e = expref(0)?;
            match eval(1)? {
                Value::Array(a) => Value::Array(
                    a.iter()
                        .map(|v| evaluate(&e, v, b))
                        .collect::<Result<_, _>>()?,
                ),
                other => return Err(wrong(&other)),
            }
        }
        "sort_by" | "max_by" | "min_by" => {
            arity(2)?;
            let e = expref(1)?;
            let Value::Array(items) = eval(0)? else {
                return Err(format!("{name}(): the first argument must be an array"));
            };
            let mut keyed: Vec<(Value, Value)> = items
                .into_iter()
                .map(|v| Ok((evaluate(&e, &v, b)?, v)))
                .collect::<Result<_, String>>()?;
            keyed.sort_by(|x, y| order(&x.0, &y.0));
            match name {
                "sort_by" => Value::Array(keyed.into_iter().map(|(_, v)| v).collect()),
                "max_by" => keyed.pop().map(|(_, v)| v).unwrap_or(Value::Null),
                _ => keyed
                    .into_iter()
                    .next()
                    .map(|(_, v)| v)
                    .unwrap_or(Value::Null),
            }
        }
        other => return Err(format!("unknown function: {other}()")),
    })
}

fn order(x: &Value, y: &Value) -> std::cmp::Ordering {
    match (x, y) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .partial_cmp(&b.as_f64())
            .unwrap_or(std::cmp::Ordering::Equal),
        (Value::String(a), Value::String(b)) => a.cmp(b),
        _ => std::cmp::Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(expr: &str, data: Value) -> Value {
        search(expr, &data, &Bindings::new()).unwrap()
    }

    #[test]
    fn fields_indexes_and_slices() {
        let data = json!({"a": {"b": [1, 2, 3, 4]}, "x-y": 5});
        assert_eq!(eval("a.b[0]", data.clone()), json!(1));
        assert_eq!(eval("a.b[-1]", data.clone()), json!(4));
        assert_eq!(eval("a.b[1:3]", data.clone()), json!([2, 3]));
        assert_eq!(eval("a.b[::-1]", data.clone()), json!([4, 3, 2, 1]));
        assert_eq!(eval("\"x-y\"", data.clone()), json!(5));
        assert_eq!(eval("a.missing.deeper", data.clone()), Value::Null);
        assert_eq!(eval("@", json!("s")), json!("s"));
    }

    #[test]
    fn filters_as_the_suites_write_them() {
        let status = json!({"conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "Suspended", "status": "False"}
        ]});
        assert_eq!(
            eval("conditions[?type == 'Ready']", status.clone()),
            json!([{"type": "Ready", "status": "True"}])
        );
        assert_eq!(
            eval("conditions[?type == 'Other'].status", status.clone()),
            json!([])
        );
        assert_eq!(
            eval("conditions[?type == 'Ready'].status | [0]", status),
            json!("True")
        );
    }

    #[test]
    fn projections_flatten_and_multiselect() {
        let data = json!({"items": [{"n": "a", "l": [1]}, {"n": "b", "l": [2, 3]}, {"x": 1}]});
        assert_eq!(eval("items[*].n", data.clone()), json!(["a", "b"]));
        assert_eq!(eval("items[].l[]", data.clone()), json!([1, 2, 3]));
        assert_eq!(
            eval("items[0].{name: n, first: l[0]}", data.clone()),
            json!({"name": "a", "first": 1})
        );
        assert_eq!(eval("items[1].[n, l]", data.clone()), json!(["b", [2, 3]]));
        assert_eq!(eval("length(items)", data.clone()), json!(3));
        assert_eq!(
            eval("*.n", json!({"a": {"n": 1}, "b": {"n": 2}})),
            json!([1, 2])
        );
    }

    #[test]
    fn comparisons_logic_and_truthiness() {
        let data = json!({"a": 1, "b": 1.0, "s": "", "t": "x"});
        assert_eq!(eval("a == b", data.clone()), json!(true));
        assert_eq!(eval("a < `2`", data.clone()), json!(true));
        assert_eq!(eval("a < t", data.clone()), Value::Null);
        assert_eq!(eval("s || t", data.clone()), json!("x"));
        assert_eq!(eval("t && a", data.clone()), json!(1));
        assert_eq!(eval("!s", data.clone()), json!(true));
        assert_eq!(eval("missing != null", data), json!(false));
    }

    #[test]
    fn variables_are_bindings() {
        let mut b = Bindings::new();
        b.insert(
            "error".into(),
            json!("admission webhook denied: spec.type is immutable"),
        );
        b.insert("grp".into(), json!({"metadata": {"uid": "u-1"}}));
        b.insert("nothing".into(), Value::Null);
        assert_eq!(search("$error != null", &Value::Null, &b), Ok(json!(true)));
        assert_eq!(
            search(
                "contains($error, 'spec.type is immutable')",
                &Value::Null,
                &b
            ),
            Ok(json!(true))
        );
        assert_eq!(
            search("$nothing != null", &Value::Null, &b),
            Ok(json!(false))
        );
        assert_eq!(
            search("$grp.metadata.uid", &Value::Null, &b),
            Ok(json!("u-1"))
        );
        assert!(search("$undefined", &Value::Null, &b).is_err());
    }

    #[test]
    fn functions() {
        let data =
            json!({"m": "resource default/held-resource held", "l": [3, 1, 2], "o": {"k": "v"}});
        assert_eq!(
            eval("contains(m, 'default/held-resource')", data.clone()),
            json!(true)
        );
        assert_eq!(eval("contains(l, `2`)", data.clone()), json!(true));
        assert_eq!(eval("sort(l)", data.clone()), json!([1, 2, 3]));
        assert_eq!(eval("max(l)", data.clone()), json!(3));
        assert_eq!(eval("keys(o)", data.clone()), json!(["k"]));
        assert_eq!(
            eval("starts_with(m, 'resource')", data.clone()),
            json!(true)
        );
        assert_eq!(eval("to_string(`1`)", data.clone()), json!("1"));
        assert_eq!(eval("join(',', ['a', 'b'])", data.clone()), json!("a,b"));
        assert_eq!(
            eval("sort_by(`[{\"k\": 2}, {\"k\": 1}]`, &k)[0].k", Value::Null),
            json!(1)
        );
        assert!(search("nope(@)", &data, &Bindings::new()).is_err());
        assert!(search("length(`1`)", &data, &Bindings::new()).is_err());
    }

    #[test]
    fn syntax_errors_are_errors() {
        for bad in ["a.", "[?a", "a ==", "'open", "a = b", "foo[1", "(a"] {
            assert!(parse(bad).is_err(), "{bad} parsed");
        }
    }
}
