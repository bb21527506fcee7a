//! What every CEL user of the domain shares: the environment expressions are
//! compiled and run in, the static bounds on a source, the scan of the
//! identifiers an expression uses, and how a compile failure is reported.
//! Schema rules (`schema::rules`), admission policies (`admission`) and quota
//! policies (`quota::policy_expr`) build on it.
//!
//! (Named `cel_common`, not `cel`, so that `cel::` keeps naming the crate.)

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

use cel::common::ast::{ComprehensionExpr, EntryExpr, Expr, IdedExpr, ListExpr, LiteralValue};
use cel::common::types::{CelBool, CelString};
use cel::parser::{Macro, MacroExprHelper, ParseError};
use cel::{Env, ExecutionError, Program};
use regex::Regex;
use serde_json::Value;

use crate::Cause;

/// The longest expression accepted, in bytes.
pub const MAX_SOURCE_LEN: usize = 4096;
/// The deepest bracket nesting accepted in an expression's source.
pub const MAX_SOURCE_NESTING: usize = 32;

/// The environment every expression is compiled and run in: the standard
/// library (with our `matches`, see [`matches`]), the strings and lists
/// extensions, and `cel.bind`.
pub fn env() -> &'static Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        // The crate is built without its `regex` feature, so the standard
        // library declares no `matches` and these cannot clash; were they
        // to, `matches` would be missing (refused at evaluation), not wrong.
        let _ = cel::add_overload!(env, fn matches: (CelString, CelString) -> Result<CelBool>,
            id = "matches");
        let _ =
            cel::add_member_overload!(env, fn matches: (CelString, CelString) -> Result<CelBool>);
        // These only fail on a name clash with what is already declared,
        // which a fresh standard environment does not have; were it to
        // happen, the extension's functions would be missing, not wrong.
        let _ = env.add_extension(cel::extensions::strings);
        let _ = env.add_extension(cel::extensions::lists);
        let _ = env.add_macro(Macro::receiver("bind", 3, bind_macro));
        Arc::new(env)
    })
}

/// The most patterns a thread keeps compiled for [`matches`]. Policies use
/// a handful of literal patterns; a pattern taken from the data (a param, a
/// field) could be new on every call, so the cache is bounded (and emptied
/// when full: simpler than an LRU, and such patterns gain nothing from one).
const MAX_CACHED_REGEXES: usize = 256;

thread_local! {
    /// The patterns [`matches`] compiled on this thread, by source.
    static COMPILED: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
}

/// `s.matches(re)` and `matches(s, re)`, as the `cel` crate's own (RE2
/// syntax through the `regex` crate, the same error message) but with the
/// compiled pattern cached per thread: the crate compiles it on every call,
/// tens of microseconds against the sub-microsecond match. Per thread, so
/// evaluation workers never contend for it.
fn matches(this: &CelString<'_>, re: &CelString<'_>) -> Result<CelBool, ExecutionError> {
    COMPILED.with(|compiled| {
        let mut compiled = compiled.borrow_mut();
        let pattern = re.inner();
        if let Some(regex) = compiled.get(pattern) {
            return Ok(CelBool::from(regex.is_match(this.inner())));
        }
        let regex = Regex::new(pattern).map_err(|err| ExecutionError::FunctionError {
            function: "matches".to_string(),
            message: format!("'{pattern}' not a valid regex:\n{err}"),
        })?;
        let found = regex.is_match(this.inner());
        if compiled.len() >= MAX_CACHED_REGEXES {
            compiled.clear();
        }
        compiled.insert(pattern.to_string(), regex);
        Ok(CelBool::from(found))
    })
}

/// `cel.bind(name, init, body)`: `body` with `name` bound to `init`, expanded
/// as cel-go does, into a comprehension over an empty list whose accumulator
/// is the variable.
fn bind_macro(
    helper: &mut MacroExprHelper<'_>,
    target: &mut Option<IdedExpr>,
    args: &mut Vec<IdedExpr>,
) -> Result<Option<IdedExpr>, ParseError> {
    let on_cel = matches!(target.as_ref().map(|t| &t.expr), Some(Expr::Ident(n)) if n == "cel");
    if !on_cel || args.len() != 3 {
        return Ok(None);
    }
    let name = match &args[0].expr {
        Expr::Ident(name) => name.clone(),
        _ => {
            return Err(helper.new_error(
                args[0].id,
                "cel.bind() variable name must be a simple identifier",
            ))
        }
    };
    let body = args.remove(2);
    let init = args.remove(1);
    let bind = ComprehensionExpr {
        iter_range: helper.next_expr(Expr::List(ListExpr::new(Vec::new()))),
        iter_var: BIND_ITER_VAR.to_owned(),
        iter_var2: None,
        accu_var: name.clone(),
        accu_init: init,
        loop_cond: helper.next_expr(Expr::Literal(LiteralValue::Boolean(false.into()))),
        loop_step: helper.next_expr(Expr::Ident(name)),
        result: body,
    };
    Ok(Some(helper.next_expr(Expr::Comprehension(Box::new(bind)))))
}

/// The iteration variable of an expanded `cel.bind`, which never iterates:
/// the scan does not count it as a loop.
const BIND_ITER_VAR: &str = "#unused";

/// Bounds a source before parsing it: the parser and the evaluator recurse
/// on its nesting, and an unbounded one could exhaust the stack.
pub fn check_source_size(source: &str) -> Result<(), String> {
    if source.len() > MAX_SOURCE_LEN {
        return Err(format!("must be at most {MAX_SOURCE_LEN} bytes long"));
    }
    let mut depth = 0usize;
    for c in source.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_SOURCE_NESTING {
                    return Err(format!(
                        "brackets may not nest more than {MAX_SOURCE_NESTING} deep"
                    ));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// An expression of a field being compiled: each check's failure becomes
/// the one cause at the field, worded as Kubernetes words it (`Invalid
/// value: "<source>": compilation failed: <why>`), and ends the compile.
pub(crate) struct FieldExpr<'a> {
    source: &'a str,
    path: &'a str,
    causes: &'a mut Vec<Cause>,
}

impl<'a> FieldExpr<'a> {
    pub fn new(source: &'a str, path: &'a str, causes: &'a mut Vec<Cause>) -> FieldExpr<'a> {
        FieldExpr {
            source,
            path,
            causes,
        }
    }

    /// Parses the source, within the bounds on its size.
    pub fn parse(&mut self) -> Option<Program> {
        self.check(check_source_size(self.source))?;
        self.check(env().compile(self.source).map_err(|e| e.to_string()))
    }

    /// As [`FieldExpr::parse`], for a field that must not be blank.
    pub fn parse_required(&mut self) -> Option<Program> {
        if self.source.trim().is_empty() {
            self.causes.push(Cause::required(self.path));
            return None;
        }
        self.parse()
    }

    /// What `result` holds, or `None` with its error reported.
    pub fn check<T>(&mut self, result: Result<T, String>) -> Option<T> {
        result.map_err(|why| self.fail(why)).ok()
    }

    /// Reports `why` the expression does not compile.
    pub fn fail(&mut self, why: impl std::fmt::Display) {
        self.causes.push(Cause::invalid(
            self.path,
            format!(
                "Invalid value: {}: compilation failed: {why}",
                quote(self.source)
            ),
        ));
    }
}

/// CEL's reserved words: not identifiers (admission variable names), and
/// escaped when they are property names (schema rules).
pub const RESERVED_WORDS: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// Identifiers an expression may always use: the type denotations of the
/// standard library.
const TYPE_NAMES: &[&str] = &[
    "bool",
    "bytes",
    "double",
    "duration",
    "dyn",
    "int",
    "list",
    "map",
    "null_type",
    "optional_type",
    "string",
    "timestamp",
    "type",
    "uint",
];

/// Namespaces of functions (`optional.none()`, `strings.quote(..)`,
/// `lists.range(..)`, `cel.bind(..)`), which parse as calls on an identifier.
const NAMESPACES: &[&str] = &["optional", "strings", "lists", "cel"];

/// Walks a parsed expression for the variables it uses.
#[derive(Debug, Default)]
pub struct Scan {
    /// The free variables used, among the allowed ones.
    pub used: BTreeSet<String>,
    /// `root.field` selections on free variables (`variables.foo`).
    pub selected: BTreeSet<(String, String)>,
    /// The deepest nesting of loops (comprehensions other than `cel.bind`).
    pub loop_depth: usize,
}

impl Scan {
    /// Scans `expr`: `Err(name)` at the first identifier that is neither in
    /// `allowed`, a type name, nor bound by an enclosing macro (`all(x, ..)`).
    pub fn run(expr: &IdedExpr, allowed: &[&str]) -> Result<Scan, String> {
        let mut scan = Scan::default();
        scan.walk(expr, allowed, &mut Vec::new(), 0, 0)?;
        Ok(scan)
    }

    fn walk(
        &mut self,
        expr: &IdedExpr,
        allowed: &[&str],
        bound: &mut Vec<String>,
        depth: usize,
        loops: usize,
    ) -> Result<(), String> {
        if depth > MAX_SOURCE_LEN {
            return Err("<too deeply nested>".to_string());
        }
        let depth = depth + 1;
        match &expr.expr {
            Expr::Ident(name) => self.ident(name, allowed, bound),
            Expr::Call(call) => {
                if let Some(target) = &call.target {
                    let namespace = matches!(&target.expr,
                        Expr::Ident(n) if NAMESPACES.contains(&n.as_str()) && !bound.contains(n));
                    if !namespace {
                        self.walk(target, allowed, bound, depth, loops)?;
                    }
                }
                call.args
                    .iter()
                    .try_for_each(|a| self.walk(a, allowed, bound, depth, loops))
            }
            Expr::Comprehension(c) => {
                let inner = if c.iter_var == BIND_ITER_VAR {
                    loops
                } else {
                    loops + 1
                };
                self.loop_depth = self.loop_depth.max(inner);
                self.walk(&c.iter_range, allowed, bound, depth, loops)?;
                self.walk(&c.accu_init, allowed, bound, depth, loops)?;
                let scope = bound.len();
                bound.push(c.iter_var.clone());
                bound.extend(c.iter_var2.iter().cloned());
                bound.push(c.accu_var.clone());
                let result = [&c.loop_cond, &c.loop_step]
                    .into_iter()
                    .try_for_each(|e| self.walk(e, allowed, bound, depth, inner))
                    .and_then(|_| self.walk(&c.result, allowed, bound, depth, loops));
                bound.truncate(scope);
                result
            }
            Expr::List(list) => list
                .elements
                .iter()
                .try_for_each(|e| self.walk(e, allowed, bound, depth, loops)),
            Expr::Map(map) => map
                .entries
                .iter()
                .try_for_each(|e| self.entry(&e.expr, allowed, bound, depth, loops)),
            Expr::Struct(s) => s
                .entries
                .iter()
                .try_for_each(|e| self.entry(&e.expr, allowed, bound, depth, loops)),
            Expr::Select(select) => {
                if let Expr::Ident(name) = &select.operand.expr {
                    let (root, absolute) = split_leading_dot(name);
                    if (absolute || !bound.iter().any(|b| b == root)) && allowed.contains(&root) {
                        self.selected
                            .insert((root.to_string(), select.field.clone()));
                    }
                }
                self.walk(&select.operand, allowed, bound, depth, loops)
            }
            Expr::Literal(_) | Expr::Unspecified => Ok(()),
        }
    }

    fn entry(
        &mut self,
        entry: &EntryExpr,
        allowed: &[&str],
        bound: &mut Vec<String>,
        depth: usize,
        loops: usize,
    ) -> Result<(), String> {
        match entry {
            EntryExpr::StructField(field) => self.walk(&field.value, allowed, bound, depth, loops),
            EntryExpr::MapEntry(e) => {
                self.walk(&e.key, allowed, bound, depth, loops)?;
                self.walk(&e.value, allowed, bound, depth, loops)
            }
        }
    }

    fn ident(&mut self, name: &str, allowed: &[&str], bound: &[String]) -> Result<(), String> {
        // `@`/`#` names are the macros' own hidden variables.
        if name.starts_with('@') || name.starts_with('#') {
            return Ok(());
        }
        // `.name` is CEL's root-scope form (Milo's templates write
        // `{{.trigger.metadata.name}}`): the declared variable, never a
        // macro's, which the evaluator resolves the same way.
        let (name, absolute) = split_leading_dot(name);
        if !absolute && bound.iter().any(|b| b == name) {
            return Ok(());
        }
        if allowed.contains(&name) {
            self.used.insert(name.to_string());
            return Ok(());
        }
        if TYPE_NAMES.contains(&name) {
            return Ok(());
        }
        Err(name.to_string())
    }
}

/// An identifier without CEL's leading root-scope dot, and whether it had
/// one.
fn split_leading_dot(name: &str) -> (&str, bool) {
    match name.strip_prefix('.') {
        Some(root) => (root, true),
        None => (name, false),
    }
}

/// A string as a JSON string literal, as Kubernetes quotes values in
/// messages.
pub fn quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(src: &str, allowed: &[&str]) -> Result<Scan, String> {
        let program = env().compile(src).map_err(|e| e.to_string())?;
        Scan::run(program.expression(), allowed)
    }

    fn eval(src: &str) -> Result<cel::Value, String> {
        let program = env().compile(src).map_err(|e| e.to_string())?;
        let context = cel::Context::with_env(Arc::clone(env()));
        program.execute(&context).map_err(|e| e.to_string())
    }

    #[test]
    fn matches_caches_patterns_and_keeps_the_crates_behaviour() {
        assert_eq!(
            eval("'foobar'.matches('^[a-z]+$')"),
            Ok(cel::Value::Bool(true))
        );
        assert_eq!(
            eval("matches('foo1', '^[a-z]+$')"),
            Ok(cel::Value::Bool(false))
        );
        // The same pattern again, now from the cache, against other input.
        assert_eq!(
            eval("'foo1'.matches('^[a-z]+$')"),
            Ok(cel::Value::Bool(false))
        );
        let bad = eval("'x'.matches('(x')").unwrap_err();
        assert!(bad.contains("'(x' not a valid regex"), "{bad}");
        // Past the bound the cache starts over; answers stay right.
        for i in 0..MAX_CACHED_REGEXES + 10 {
            let src = format!("'a{i}'.matches('^a{i}$') && !'b'.matches('^a{i}$')");
            assert_eq!(eval(&src), Ok(cel::Value::Bool(true)), "{src}");
        }
        COMPILED.with(|c| assert!(c.borrow().len() <= MAX_CACHED_REGEXES));
    }

    #[test]
    fn scan_allows_macro_variables_and_type_names_only() {
        let uses_old =
            |src: &str| scan(src, &["self", "oldSelf"]).map(|s| s.used.contains("oldSelf"));
        assert_eq!(uses_old("self.all(c, c.x > 0)"), Ok(false));
        assert_eq!(
            uses_old("type(oldSelf) == null_type || self == oldSelf"),
            Ok(true)
        );
        assert_eq!(uses_old("optional.none() == optional.none()"), Ok(false));
        assert_eq!(uses_old("cel.bind(x, self.a, x + 1 > 0)"), Ok(false));
        assert_eq!(uses_old("self.a == foo"), Err("foo".to_string()));
        // A macro variable is only bound inside its macro.
        assert_eq!(
            uses_old("self.all(c, c > 0) && c == 1"),
            Err("c".to_string())
        );
    }

    #[test]
    fn leading_dot_identifiers_name_the_declared_variables() {
        let s = scan(".trigger.metadata.name + trigger.kind", &["trigger"]).unwrap();
        assert_eq!(s.used.iter().collect::<Vec<_>>(), ["trigger"]);
        let selected: Vec<_> = s
            .selected
            .iter()
            .map(|(r, f)| (r.as_str(), f.as_str()))
            .collect();
        assert_eq!(selected, [("trigger", "kind"), ("trigger", "metadata")]);
        assert_eq!(scan(".user.name", &["trigger"]).unwrap_err(), "user");
        // Inside a macro, `.x` is still the root variable, not the macro's.
        assert_eq!(
            scan("[1].all(x, x > 0 && .x == 1)", &["trigger"]).unwrap_err(),
            "x"
        );
        assert!(scan("[1].all(trigger, .trigger.a == trigger)", &["trigger"]).is_ok());
    }

    #[test]
    fn leading_dot_identifiers_evaluate_against_the_root_variables() {
        let program = env().compile(".a.b + '-' + a.b").unwrap();
        let mut context = cel::Context::with_env(Arc::clone(env()));
        context
            .add_variable("a", serde_json::json!({"b": "x"}))
            .unwrap();
        assert_eq!(
            program.execute(&context).unwrap(),
            cel::Value::String(Arc::new("x-x".to_string()))
        );
    }

    #[test]
    fn scan_reports_selections_and_loop_depth() {
        let s = scan(
            "variables.a + variables.b.size() > 0 && [1].all(x, [2].all(y, x < y))",
            &["variables"],
        )
        .unwrap();
        let selected: Vec<_> = s.selected.iter().map(|(_, f)| f.as_str()).collect();
        assert_eq!(selected, ["a", "b"]);
        assert_eq!(s.loop_depth, 2);
        // cel.bind is not a loop; a loop in a loop's range is not nested.
        let s = scan("cel.bind(x, [1].map(a, a), x.all(b, b > 0))", &[]).unwrap();
        assert_eq!(s.loop_depth, 1);
    }

    #[test]
    fn deeply_nested_sources_are_refused_before_parsing() {
        let deep = format!("{}1{}", "(".repeat(40), ")".repeat(40));
        assert!(check_source_size(&deep).is_err());
        assert!(check_source_size(&"x".repeat(MAX_SOURCE_LEN + 1)).is_err());
        assert!(check_source_size("self.a.b.all(x, [x].size() > 0)").is_ok());
    }
}
