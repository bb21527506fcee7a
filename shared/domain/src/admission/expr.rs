//! A policy's CEL expressions: compiled when the policy is parsed (so a
//! policy that does not compile is refused when written), and evaluated
//! against an activation (object, oldObject, request, params,
//! namespaceObject, variables).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use cel::common::ast::{CallExpr, MapExpr};
use cel::common::ast::{EntryExpr, Expr, IdedEntryExpr, IdedExpr, LiteralValue, MapEntryExpr};
use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt,
};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use cel::{Context, Value as CelValue};
use serde_json::Value;

use super::request::AdmissionRequest;
use crate::cel_common::{env, FieldExpr, Scan};
use crate::Cause;

/// The variables a policy expression may use. `authorizer` is declared by
/// Kubernetes but not supported here (there is no authorizer to ask until
/// the IAM issue): an expression using it is refused.
pub const ROOTS: &[&str] = &[
    "object",
    "oldObject",
    "request",
    "params",
    "namespaceObject",
    "variables",
    "authorizer",
];

/// The deepest nesting of loops (`all`, `exists`, `map`, `filter`, ...)
/// accepted: with the input bounded (400 KB objects, 4 KB sources), two
/// levels bound the work to a square of the input; three would allow cubes.
pub const MAX_LOOP_DEPTH: usize = 2;

/// The largest literal `lists.range(n)`: the one function that builds a big
/// list from a small source. Other arguments than a literal are refused.
pub const MAX_RANGE: i64 = 10_000;

/// The deepest value converted to CEL.
const MAX_VALUE_DEPTH: usize = 100;

/// Where an expression sits: what it may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    /// Conditions, validations, variables, messages, annotations.
    Plain,
    /// A mutation: `Object{...}` apply configurations and `JSONPatch{...}`
    /// operations are allowed (rewritten to maps, see [`rewrite_structs`]).
    Mutation,
}

/// One compiled expression.
#[derive(Debug, Clone)]
pub struct CompiledExpr {
    pub source: String,
    ast: Arc<IdedExpr>,
    /// The names of `variables.<name>` it uses.
    pub variables: BTreeSet<String>,
}

impl PartialEq for CompiledExpr {
    /// The compiled form is a function of the source.
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// Compiles `source`; `declared` are the variable names it may use
/// (`variables.<name>`). On failure, a cause at `path` and `None`.
pub(crate) fn compile(
    source: &str,
    path: &str,
    declared: &[String],
    site: Site,
    causes: &mut Vec<Cause>,
) -> Option<CompiledExpr> {
    let mut expr = FieldExpr::new(source, path, causes);
    let mut ast = expr.parse_required()?.expression().clone();
    expr.check(rewrite_structs(&mut ast, site, 0))?;
    let scan = expr.check(
        Scan::run(&ast, ROOTS).map_err(|name| format!("undeclared reference to '{name}'")),
    )?;
    if scan.used.contains("authorizer") {
        expr.fail("the authorizer variable is not supported by this server");
        return None;
    }
    expr.check(check_bounds(&ast, &scan))?;
    let mut variables = BTreeSet::new();
    for (root, field) in &scan.selected {
        if root != "variables" {
            continue;
        }
        if !declared.contains(field) {
            expr.fail(format!("undeclared reference to 'variables.{field}' (variables can only use those declared before them)"));
            return None;
        }
        variables.insert(field.clone());
    }
    // `variables` used whole (`variables[x]`, `has(variables.x)` is a
    // select) would escape the lazy evaluation: refuse anything but
    // selections of declared names.
    if scan.used.contains("variables") && !uses_variables_only_by_select(&ast) {
        expr.fail("variables may only be used as variables.<name>");
        return None;
    }
    Some(CompiledExpr {
        source: source.to_string(),
        ast: Arc::new(ast),
        variables,
    })
}

/// Rewrites `Object{...}`, `Object.<path>{...}` and `JSONPatch{...}` struct
/// literals into map literals (field names as string keys): the `cel` crate
/// constructs only registered struct types, and the apply configuration's
/// type names (`Object.spec.template`) are open-ended. Other struct
/// literals, and these outside mutations, are refused.
fn rewrite_structs(expr: &mut IdedExpr, site: Site, depth: usize) -> Result<(), String> {
    if depth > crate::cel_common::MAX_SOURCE_LEN {
        return Err("expression too deeply nested".to_string());
    }
    let depth = depth + 1;
    let recurse = |e: &mut IdedExpr| rewrite_structs(e, site, depth);
    match &mut expr.expr {
        Expr::Struct(s) => {
            let known = s.type_name == "Object"
                || s.type_name.starts_with("Object.")
                || s.type_name == "JSONPatch";
            if !known || site != Site::Mutation {
                return Err(format!(
                    "struct literal {} is not supported here (only Object{{...}} and JSONPatch{{...}} in mutations)",
                    s.type_name
                ));
            }
            let mut entries = Vec::with_capacity(s.entries.len());
            for entry in std::mem::take(&mut s.entries) {
                let EntryExpr::StructField(mut field) = entry.expr else {
                    return Err("malformed struct literal".to_string());
                };
                recurse(&mut field.value)?;
                let key = IdedExpr {
                    id: entry.id,
                    expr: Expr::Literal(LiteralValue::String(field.field.into())),
                };
                entries.push(IdedEntryExpr {
                    id: entry.id,
                    expr: EntryExpr::MapEntry(MapEntryExpr {
                        key,
                        value: field.value,
                        optional: field.optional,
                    }),
                });
            }
            expr.expr = Expr::Map(MapExpr { entries });
            Ok(())
        }
        Expr::Call(call) => {
            if let Some(t) = call.target.as_deref_mut() {
                recurse(t)?;
            }
            call.args.iter_mut().try_for_each(recurse)
        }
        Expr::Comprehension(c) => [
            &mut c.iter_range,
            &mut c.accu_init,
            &mut c.loop_cond,
            &mut c.loop_step,
            &mut c.result,
        ]
        .into_iter()
        .try_for_each(recurse),
        Expr::List(l) => l.elements.iter_mut().try_for_each(recurse),
        Expr::Map(m) => m.entries.iter_mut().try_for_each(|e| match &mut e.expr {
            EntryExpr::MapEntry(me) => {
                recurse(&mut me.key)?;
                recurse(&mut me.value)
            }
            EntryExpr::StructField(f) => recurse(&mut f.value),
        }),
        Expr::Select(s) => recurse(&mut s.operand),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => Ok(()),
    }
}

/// The bounds on the work of a policy's expression (admission's, quota's):
/// loops nested at most [`MAX_LOOP_DEPTH`] deep, `lists.range(n)` only with
/// a literal `n` up to [`MAX_RANGE`].
pub(crate) fn check_bounds(ast: &IdedExpr, scan: &Scan) -> Result<(), String> {
    if scan.loop_depth > MAX_LOOP_DEPTH {
        return Err(format!(
            "loops (all, exists, map, filter, ...) may not nest more than {MAX_LOOP_DEPTH} deep"
        ));
    }
    check_ranges(ast, 0)
}

fn check_ranges(expr: &IdedExpr, depth: usize) -> Result<(), String> {
    if depth > crate::cel_common::MAX_SOURCE_LEN {
        return Err("expression too deeply nested".to_string());
    }
    if let Expr::Call(call) = &expr.expr {
        let ok = !is_range(call)
            || matches!(call.args.as_slice(),
                [IdedExpr { expr: Expr::Literal(LiteralValue::Int(n)), .. }]
                    if (0..=MAX_RANGE).contains(n.inner()));
        if !ok {
            return Err(format!(
                "lists.range() takes a literal between 0 and {MAX_RANGE}"
            ));
        }
    }
    children(expr)
        .into_iter()
        .try_for_each(|e| check_ranges(e, depth + 1))
}

/// The direct subexpressions of `expr`, in source order.
fn children(expr: &IdedExpr) -> Vec<&IdedExpr> {
    match &expr.expr {
        Expr::Call(call) => call
            .target
            .as_deref()
            .into_iter()
            .chain(&call.args)
            .collect(),
        Expr::Comprehension(c) => vec![
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ],
        Expr::List(l) => l.elements.iter().collect(),
        Expr::Map(m) => m
            .entries
            .iter()
            .flat_map(|e| entry_children(&e.expr))
            .collect(),
        Expr::Struct(s) => s
            .entries
            .iter()
            .flat_map(|e| entry_children(&e.expr))
            .collect(),
        Expr::Select(s) => vec![&s.operand],
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => Vec::new(),
    }
}

fn entry_children(entry: &EntryExpr) -> Vec<&IdedExpr> {
    match entry {
        EntryExpr::MapEntry(me) => vec![&me.key, &me.value],
        EntryExpr::StructField(f) => vec![&f.value],
    }
}

fn is_range(call: &CallExpr) -> bool {
    let on_lists = matches!(call.target.as_deref(),
        Some(IdedExpr { expr: Expr::Ident(n), .. }) if n == "lists");
    (on_lists && call.func_name == "range") || call.func_name == "lists.range"
}

/// Whether every use of the identifier `variables` is the operand of a
/// field selection (`variables.x`).
fn uses_variables_only_by_select(expr: &IdedExpr) -> bool {
    fn walk(expr: &IdedExpr, depth: usize) -> bool {
        if depth > crate::cel_common::MAX_SOURCE_LEN {
            return false;
        }
        match &expr.expr {
            Expr::Ident(n) => n != "variables",
            Expr::Select(s) if matches!(&s.operand.expr, Expr::Ident(n) if n == "variables") => {
                true
            }
            _ => children(expr).into_iter().all(|e| walk(e, depth + 1)),
        }
    }
    walk(expr, 0)
}

// ---------------------------------------------------------------------------
// Evaluating
// ---------------------------------------------------------------------------

/// The request's inputs as the interpreter's values, built once per request
/// and shared (`Arc`) by every policy and param: each expression reads them
/// in place through [`Activation`]'s resolver. (Bound as context variables,
/// the `cel` crate would want an owned copy of each per expression, a deep
/// copy of the object every time.)
#[derive(Debug)]
pub(crate) struct Inputs {
    object: Box<dyn Val>,
    old_object: Box<dyn Val>,
    request: Box<dyn Val>,
    namespace_object: Box<dyn Val>,
}

impl Inputs {
    pub fn new(request: &AdmissionRequest) -> Result<Inputs, String> {
        let convert = |v: &Option<Value>| match v {
            Some(v) => to_val(v),
            None => boxed(CelValue::Null),
        };
        Ok(Inputs {
            object: convert(&request.object)?,
            old_object: convert(&request.old_object)?,
            request: boxed(request.to_cel())?,
            namespace_object: convert(&request.namespace_object)?,
        })
    }
}

/// The inputs of every expression of one policy evaluation (one param):
/// the request's shared [`Inputs`], the param, and, in a mutation, the
/// object as the previous mutations left it.
#[derive(Debug)]
pub(crate) struct Activation {
    inputs: Arc<Inputs>,
    params: Box<dyn Val>,
    /// Replaces `inputs.object` once a mutation changed it.
    object: Option<Box<dyn Val>>,
}

impl Activation {
    /// `params`: `None` when the policy has none (`params` is `null`).
    pub fn new(inputs: Arc<Inputs>, params: Option<&Value>) -> Result<Activation, String> {
        let params = match params {
            Some(p) => to_val(p)?,
            None => boxed(CelValue::Null)?,
        };
        Ok(Activation {
            inputs,
            params,
            object: None,
        })
    }

    /// `object` is now this (the next mutation sees the previous one's
    /// result).
    pub fn set_object(&mut self, object: &Value) -> Result<(), String> {
        self.object = Some(to_val(object)?);
        Ok(())
    }
}

impl VariableResolver for Activation {
    fn resolve<'b>(&'b self, name: &str) -> Option<CowVal<'b, 'b>> {
        let value: &dyn Val = match name {
            "object" => self.object.as_deref().unwrap_or(&*self.inputs.object),
            "oldObject" => &*self.inputs.old_object,
            "request" => &*self.inputs.request,
            "params" => &*self.params,
            "namespaceObject" => &*self.inputs.namespace_object,
            _ => return None,
        };
        Some(CowVal::Borrowed(value))
    }
}

/// The variables of one evaluation, computed on first use and kept: a
/// variable an expression never needs is never evaluated, and its error
/// only matters to expressions that use it.
#[derive(Debug, Default)]
pub(crate) struct VariableCache {
    values: HashMap<String, Result<CelValue, String>>,
}

/// A policy's `variables`, in order.
pub(crate) type Variables = [(String, CompiledExpr)];

/// Evaluates `expr`, computing the variables it uses first.
pub(crate) fn evaluate(
    expr: &CompiledExpr,
    activation: &Activation,
    variables: &Variables,
    cache: &mut VariableCache,
) -> Result<CelValue, String> {
    let mut bound = HashMap::new();
    for name in &expr.variables {
        let value = variable(name, activation, variables, cache)?;
        bound.insert(name.clone(), value);
    }
    let mut context = Context::with_env(Arc::clone(env()));
    context.set_variable_resolver(activation);
    // Only bound when used: the compiler refuses any other use of
    // `variables` than `variables.<name>` of the names collected here.
    if !bound.is_empty() {
        context.add_variable_as_val("variables", boxed(CelValue::Map(bound.into()))?);
    }
    context.resolve(&expr.ast).map_err(|e| e.to_string())
}

fn variable(
    name: &str,
    activation: &Activation,
    variables: &Variables,
    cache: &mut VariableCache,
) -> Result<CelValue, String> {
    if let Some(done) = cache.values.get(name) {
        return done.clone();
    }
    let Some((_, expr)) = variables.iter().find(|(n, _)| n == name) else {
        return Err(format!("no such variable: {name}"));
    };
    // A variable only uses earlier ones (checked when compiled), so this
    // recursion through `evaluate` ends.
    let value =
        evaluate(expr, activation, variables, cache).map_err(|e| format!("variable {name}: {e}"));
    cache.values.insert(name.to_string(), value.clone());
    value
}

fn boxed(value: CelValue) -> Result<Box<dyn Val>, String> {
    Box::<dyn Val>::try_from(value).map_err(|e| e.to_string())
}

/// JSON to the interpreter's value, as [`to_cel`] converts it, directly:
/// through a `CelValue` the map would be built twice and cloned in between,
/// the largest part of converting a request's inputs.
fn to_val(value: &Value) -> Result<Box<dyn Val>, String> {
    to_val_at(value, 0)
}

fn to_val_at(value: &Value, depth: usize) -> Result<Box<dyn Val>, String> {
    if depth > MAX_VALUE_DEPTH {
        return Err(format!(
            "value nesting exceeds the maximum depth of {MAX_VALUE_DEPTH}"
        ));
    }
    Ok(match value {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Box::new(CelInt::from(i)),
            (None, Some(u)) => Box::new(CelUInt::from(u)),
            _ => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        },
        Value::String(s) => Box::new(CelString::from(s.clone())),
        Value::Array(items) => Box::new(CelList::from(
            items
                .iter()
                .map(|v| to_val_at(v, depth + 1))
                .collect::<Result<Vec<_>, _>>()?,
        )),
        Value::Object(map) => {
            let mut out = HashMap::with_capacity(map.len());
            for (k, v) in map {
                out.insert(CelMapKey::from(k.clone()), to_val_at(v, depth + 1)?);
            }
            Box::new(CelMap::from(out))
        }
    })
}

/// JSON to CEL, without a schema: integers are ints (uints past `i64::MAX`),
/// other numbers doubles, keys unescaped.
pub(crate) fn to_cel(value: &Value) -> Result<CelValue, String> {
    to_cel_at(value, 0)
}

fn to_cel_at(value: &Value, depth: usize) -> Result<CelValue, String> {
    if depth > MAX_VALUE_DEPTH {
        return Err(format!(
            "value nesting exceeds the maximum depth of {MAX_VALUE_DEPTH}"
        ));
    }
    Ok(match value {
        Value::Null => CelValue::Null,
        Value::Bool(b) => CelValue::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => CelValue::Int(i),
            (None, Some(u)) => CelValue::UInt(u),
            _ => CelValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => CelValue::String(Arc::new(s.clone())),
        Value::Array(items) => CelValue::List(Arc::new(
            items
                .iter()
                .map(|v| to_cel_at(v, depth + 1))
                .collect::<Result<Vec<_>, _>>()?,
        )),
        Value::Object(map) => {
            let mut out = HashMap::with_capacity(map.len());
            for (k, v) in map {
                out.insert(k.clone(), to_cel_at(v, depth + 1)?);
            }
            CelValue::Map(out.into())
        }
    })
}

/// CEL back to JSON (mutation results).
pub(crate) fn to_json(value: &CelValue) -> Result<Value, String> {
    value.json().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_converts_directly_as_through_cel_values() {
        let doc = json!({"a": [1, -2, 18446744073709551615u64, 1.5, "s", null, true],
            "b": {"c": {}, "d": []}, "e": "é"});
        let direct = CelValue::try_from(&*to_val(&doc).unwrap()).unwrap();
        let through = CelValue::try_from(&*boxed(to_cel(&doc).unwrap()).unwrap()).unwrap();
        assert_eq!(direct, through);
        let mut deep = json!(1);
        for _ in 0..=MAX_VALUE_DEPTH + 1 {
            deep = json!([deep]);
        }
        assert_eq!(to_val(&deep).unwrap_err(), to_cel(&deep).unwrap_err());
    }
}
