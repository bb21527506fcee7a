//! Compiling an `openAPIV3Schema` into a [`Node`] tree, refusing what
//! Kubernetes refuses in a CRD: non-structural schemas, unknown types, bad
//! patterns, CEL rules that do not compile, defaults their schema refuses.
//!
//! Cause paths follow Kubernetes:
//! `<base>.properties[spec].properties[size].type`, `<base>.items`,
//! `<base>.x-kubernetes-validations[0].rule`.

use regex::RegexBuilder;
use serde_json::{json, Map, Number, Value};

use super::node::{Additional, Bound, ListType, Node, Pattern, Type};
use super::{child_path, default_prune, key_path, render, rules, validate, MAX_DEPTH};
use crate::Cause;

mod shapes;

/// Compiles the root of a resource's schema.
pub(super) fn compile_root(doc: &Value, base: &str) -> Result<Node, Vec<Cause>> {
    let mut compiler = Compiler::default();
    let ctx = Ctx {
        depth: 0,
        root: true,
        junctor: false,
        correlatable: true,
        type_allowed: false,
        any_of_types: false,
    };
    let root = compiler.node(doc, base, ctx);
    if compiler.causes.is_empty() {
        Ok(root)
    } else {
        Err(compiler.causes)
    }
}

/// Where a node sits in the schema.
#[derive(Debug, Clone, Copy)]
struct Ctx {
    depth: usize,
    /// The resource's root.
    root: bool,
    /// Inside `allOf`/`anyOf`/`oneOf`/`not`: value validations only.
    junctor: bool,
    /// An old value can be found here on update (for `oldSelf`).
    correlatable: bool,
    /// Inside a junctor: this node may declare a `type` (it is part of the
    /// int-or-string pattern).
    type_allowed: bool,
    /// This junctor's `anyOf` may be the int-or-string pattern.
    any_of_types: bool,
}

impl Ctx {
    fn below(self) -> Ctx {
        Ctx {
            depth: self.depth + 1,
            root: false,
            type_allowed: false,
            any_of_types: false,
            ..self
        }
    }
}

/// Keywords Kubernetes refuses in a CRD schema.
const UNSUPPORTED: &[&str] = &[
    "$ref",
    "$schema",
    "id",
    "definitions",
    "dependencies",
    "patternProperties",
    "additionalItems",
];

/// Keywords a junctor may not use, as Kubernetes words it: what may only
/// appear in the structural part of the schema.
const NOT_IN_JUNCTORS: &[(&str, &str)] = &[
    ("description", "must be empty to be structural"),
    ("title", "must be empty to be structural"),
    ("default", "must be undefined to be structural"),
    ("additionalProperties", "must be undefined to be structural"),
    ("nullable", "must be false to be structural"),
    (
        "x-kubernetes-preserve-unknown-fields",
        "must be undefined to be structural",
    ),
    (
        "x-kubernetes-embedded-resource",
        "must be false to be structural",
    ),
    (
        "x-kubernetes-int-or-string",
        "must be false to be structural",
    ),
    (
        "x-kubernetes-list-type",
        "must be undefined to be structural",
    ),
    (
        "x-kubernetes-list-map-keys",
        "must be empty to be structural",
    ),
    (
        "x-kubernetes-map-type",
        "must be undefined to be structural",
    ),
    ("x-kubernetes-validations", "must be empty to be structural"),
];

#[derive(Default)]
struct Compiler {
    causes: Vec<Cause>,
}

impl Compiler {
    fn node(&mut self, doc: &Value, path: &str, ctx: Ctx) -> Node {
        let mut node = Node {
            is_root: ctx.root,
            ..Node::default()
        };
        if ctx.depth > MAX_DEPTH {
            self.invalid(
                path,
                format!(
                    "Invalid value: \"object\": must not nest more than {MAX_DEPTH} levels deep"
                ),
            );
            return node;
        }
        let Some(map) = doc.as_object() else {
            self.invalid(
                path,
                format!("Invalid value: {}: must be a schema object", render(doc)),
            );
            return node;
        };
        let before = self.causes.len();

        self.refuse_unsupported(map, path, ctx);
        self.generic(map, path, ctx, &mut node);
        self.value_validations(map, path, &mut node);
        self.properties(map, path, ctx, &mut node);
        self.items(map, path, ctx, &mut node);
        self.additional_properties(map, path, ctx, &mut node);
        self.list_and_map_types(map, path, &mut node);
        self.junctors(map, path, ctx, &mut node);
        if !ctx.junctor {
            self.structural(map, path, ctx, &node);
        }
        if let Some(rules) = map.get("x-kubernetes-validations").filter(|_| !ctx.junctor) {
            node.rules =
                rules::compile_rules(rules, path, &node, ctx.correlatable, &mut self.causes);
        }
        node.has_rules = !node.rules.is_empty()
            || node.properties.iter().any(|(_, p)| p.has_rules)
            || node.items.as_ref().is_some_and(|i| i.has_rules)
            || matches!(&node.additional, Additional::Schema(s) if s.has_rules);
        // The default is checked against the whole node, rules included, and
        // only if the node compiled: a broken schema says nothing of it.
        if let Some(default) = map.get("default").filter(|_| !ctx.junctor) {
            if self.causes.len() == before {
                self.check_default(&node, default, path);
            }
            node.default = Some(default.clone());
        }
        node
    }

    fn invalid(&mut self, path: &str, message: impl Into<String>) {
        self.causes.push(Cause::invalid(path, message));
    }

    fn forbidden(&mut self, path: &str, message: impl Into<String>) {
        self.causes.push(Cause::forbidden(
            path,
            format!("Forbidden: {}", message.into()),
        ));
    }

    fn required(&mut self, path: &str, message: &str) {
        self.causes.push(Cause {
            reason: "FieldValueRequired".into(),
            message: format!("Required value: {message}"),
            field: path.to_string(),
        });
    }

    fn refuse_unsupported(&mut self, map: &Map<String, Value>, path: &str, ctx: Ctx) {
        for key in UNSUPPORTED.iter().filter(|k| map.contains_key(**k)) {
            self.forbidden(&child_path(path, key), format!("{key} is not supported"));
        }
        if !ctx.junctor {
            return;
        }
        for (key, why) in NOT_IN_JUNCTORS {
            let set = match map.get(*key) {
                None | Some(Value::Null) | Some(Value::Bool(false)) => false,
                Some(Value::String(s)) => !s.is_empty(),
                Some(Value::Array(a)) => !a.is_empty(),
                Some(_) => true,
            };
            if set {
                self.forbidden(&child_path(path, key), *why);
            }
        }
        if map.contains_key("type") && !ctx.type_allowed {
            self.forbidden(&child_path(path, "type"), "must be empty to be structural");
        }
    }

    // --- scalars -----------------------------------------------------------

    fn bool_field(&mut self, map: &Map<String, Value>, key: &str, path: &str) -> bool {
        match map.get(key) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.invalid(
                    &child_path(path, key),
                    format!("Invalid value: {}: must be a boolean", render(other)),
                );
                false
            }
        }
    }

    fn string_field(&mut self, map: &Map<String, Value>, key: &str, path: &str) -> Option<String> {
        match map.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => {
                self.invalid(
                    &child_path(path, key),
                    format!("Invalid value: {}: must be a string", render(other)),
                );
                None
            }
        }
    }

    /// A length or count: a non-negative integer.
    fn count_field(&mut self, map: &Map<String, Value>, key: &str, path: &str) -> Option<u64> {
        let value = map.get(key).filter(|v| !v.is_null())?;
        if let Some(n) = value.as_u64() {
            return Some(n);
        }
        let why = match value.as_i64() {
            Some(_) => "must be greater than or equal to 0",
            None => "must be a non-negative integer",
        };
        self.invalid(
            &child_path(path, key),
            format!("Invalid value: {}: {why}", render(value)),
        );
        None
    }

    fn number_field(&mut self, map: &Map<String, Value>, key: &str, path: &str) -> Option<Number> {
        match map.get(key)? {
            Value::Number(n) => Some(n.clone()),
            Value::Null => None,
            other => {
                self.invalid(
                    &child_path(path, key),
                    format!("Invalid value: {}: must be a number", render(other)),
                );
                None
            }
        }
    }

    /// `type`, `nullable`, `format` and the `x-kubernetes-*` flags.
    fn generic(&mut self, map: &Map<String, Value>, path: &str, ctx: Ctx, node: &mut Node) {
        node.ty = self.type_field(map, path);
        node.nullable = self.bool_field(map, "nullable", path);
        node.format = self.string_field(map, "format", path);
        node.int_or_string = self.bool_field(map, "x-kubernetes-int-or-string", path);
        node.embedded = self.bool_field(map, "x-kubernetes-embedded-resource", path);
        node.preserve_unknown = self.bool_field(map, "x-kubernetes-preserve-unknown-fields", path);
        if map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(false))
            && !ctx.junctor
        {
            self.invalid(
                &child_path(path, "x-kubernetes-preserve-unknown-fields"),
                "Invalid value: false: must be true or undefined",
            );
        }
        // Kept: they mean nothing to validation.
        for key in ["description", "title"] {
            self.string_field(map, key, path);
        }
    }

    fn type_field(&mut self, map: &Map<String, Value>, path: &str) -> Option<Type> {
        let value = map.get("type").filter(|v| !v.is_null())?;
        let tpath = child_path(path, "type");
        let Some(name) = value.as_str() else {
            self.invalid(
                &tpath,
                format!("Invalid value: {}: must be a string", render(value)),
            );
            return None;
        };
        let ty = Type::parse(name);
        if ty.is_none() {
            let supported: Vec<String> = Type::NAMES.iter().map(|n| format!("\"{n}\"")).collect();
            self.causes.push(Cause::not_supported(
                tpath,
                format!(
                    "Unsupported value: {}: supported values: {}",
                    render(value),
                    supported.join(", ")
                ),
            ));
        }
        ty
    }

    /// `enum`, `pattern`, numeric bounds, lengths and counts.
    fn value_validations(&mut self, map: &Map<String, Value>, path: &str, node: &mut Node) {
        match map.get("enum") {
            None | Some(Value::Null) => {}
            Some(Value::Array(values)) => node.enumeration = Some(values.clone()),
            Some(other) => self.invalid(
                &child_path(path, "enum"),
                format!("Invalid value: {}: must be a list of values", render(other)),
            ),
        }
        if let Some(source) = self.string_field(map, "pattern", path) {
            // The size limit bounds what a pattern may cost to compile and
            // to match.
            match RegexBuilder::new(&source).size_limit(1 << 20).build() {
                Ok(regex) => node.pattern = Some(Pattern { source, regex }),
                Err(e) => self.invalid(
                    &child_path(path, "pattern"),
                    format!(
                        "Invalid value: {}: must be a valid regular expression, but isn't: {}",
                        render(&Value::String(source.clone())),
                        first_line(&e.to_string())
                    ),
                ),
            }
        }
        node.minimum = self.bound(map, "minimum", "exclusiveMinimum", path);
        node.maximum = self.bound(map, "maximum", "exclusiveMaximum", path);
        if let Some(m) = self.number_field(map, "multipleOf", path) {
            if m.as_f64().is_some_and(|f| f > 0.0) {
                node.multiple_of = Some(m);
            } else {
                self.invalid(
                    &child_path(path, "multipleOf"),
                    format!("Invalid value: {m}: must be greater than zero"),
                );
            }
        }
        node.min_length = self.count_field(map, "minLength", path);
        node.max_length = self.count_field(map, "maxLength", path);
        node.min_items = self.count_field(map, "minItems", path);
        node.max_items = self.count_field(map, "maxItems", path);
        node.min_properties = self.count_field(map, "minProperties", path);
        node.max_properties = self.count_field(map, "maxProperties", path);
        if self.bool_field(map, "uniqueItems", path) {
            self.forbidden(
                &child_path(path, "uniqueItems"),
                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
            );
        }
        match map.get("required") {
            None | Some(Value::Null) => {}
            Some(Value::Array(names)) if names.iter().all(Value::is_string) => {
                node.required = names
                    .iter()
                    .filter_map(|n| n.as_str().map(String::from))
                    .collect();
            }
            Some(other) => self.invalid(
                &child_path(path, "required"),
                format!(
                    "Invalid value: {}: must be a list of property names",
                    render(other)
                ),
            ),
        }
    }

    fn bound(
        &mut self,
        map: &Map<String, Value>,
        key: &str,
        exclusive_key: &str,
        path: &str,
    ) -> Option<Bound> {
        let exclusive = self.bool_field(map, exclusive_key, path);
        let limit = self.number_field(map, key, path);
        if exclusive && limit.is_none() {
            self.invalid(
                &child_path(path, exclusive_key),
                format!("Invalid value: true: may only be set when {key} is set"),
            );
        }
        Some(Bound {
            limit: limit?,
            exclusive,
        })
    }

    // --- structure ---------------------------------------------------------

    fn properties(&mut self, map: &Map<String, Value>, path: &str, ctx: Ctx, node: &mut Node) {
        let props = match map.get("properties") {
            None | Some(Value::Null) => return,
            Some(Value::Object(props)) => props,
            Some(other) => {
                self.invalid(
                    &child_path(path, "properties"),
                    format!("Invalid value: {}: must be a map of schemas", render(other)),
                );
                return;
            }
        };
        for (name, doc) in props {
            // The root's metadata is the server's: whatever the schema says
            // there (only name/generateName restrictions in Kubernetes) is
            // not enforced here.
            if ctx.root && name == "metadata" {
                continue;
            }
            let ppath = child_path(path, &format!("properties[{name}]"));
            let prop = self.node(doc, &ppath, ctx.below());
            node.properties.push((name.clone(), prop));
        }
    }

    fn items(&mut self, map: &Map<String, Value>, path: &str, ctx: Ctx, node: &mut Node) {
        let ipath = child_path(path, "items");
        match map.get("items") {
            None | Some(Value::Null) => {}
            Some(Value::Array(_)) => {
                self.forbidden(&ipath, "items must be a schema object and not an array")
            }
            Some(doc) => {
                // Items of a list are found again on update only by their key
                // fields: elsewhere oldSelf is meaningless.
                let is_map_list =
                    map.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map");
                let ictx = Ctx {
                    correlatable: ctx.correlatable && is_map_list,
                    ..ctx.below()
                };
                node.items = Some(Box::new(self.node(doc, &ipath, ictx)));
            }
        }
    }

    fn additional_properties(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        ctx: Ctx,
        node: &mut Node,
    ) {
        let apath = child_path(path, "additionalProperties");
        match map.get("additionalProperties") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(true)) => node.additional = Additional::Any,
            Some(Value::Bool(false)) => {
                if !ctx.junctor {
                    self.forbidden(&apath, "additionalProperties cannot be set to false");
                }
            }
            Some(doc) => {
                if map
                    .get("properties")
                    .and_then(Value::as_object)
                    .is_some_and(|p| !p.is_empty())
                {
                    self.forbidden(
                        &apath,
                        "additionalProperties and properties are mutual exclusive",
                    );
                }
                node.additional = Additional::Schema(Box::new(self.node(doc, &apath, ctx.below())));
            }
        }
    }

    /// The structural rules on the node's own shape: a type everywhere it is
    /// needed, items for arrays, the flags' consistency.
    fn structural(&mut self, map: &Map<String, Value>, path: &str, ctx: Ctx, node: &Node) {
        let tpath = child_path(path, "type");
        let typed_elsewhere = node.int_or_string || node.embedded || node.preserve_unknown;
        // A `type` that did not parse is reported already.
        let unparsed_type = node.ty.is_none() && map.get("type").is_some_and(|t| !t.is_null());
        if ctx.root {
            if node.ty != Some(Type::Object) && !unparsed_type {
                match map.get("type") {
                    None => self.required(&tpath, "must be object at the root"),
                    Some(t) => self.invalid(
                        &tpath,
                        format!("Invalid value: {}: must be object at the root", render(t)),
                    ),
                }
            }
        } else if node.ty.is_none() && !typed_elsewhere && !unparsed_type {
            self.required(&tpath, "must not be empty for specified object fields");
        }
        if node.ty == Some(Type::Array) && !map.contains_key("items") {
            self.required(
                &child_path(path, "items"),
                "must be specified for type array",
            );
        }
        self.flags(path, node);
    }

    fn flags(&mut self, path: &str, node: &Node) {
        let tpath = child_path(path, "type");
        if node.int_or_string && node.ty.is_some() {
            self.invalid(
                &tpath,
                format!(
                    "Invalid value: {}: must be empty if x-kubernetes-int-or-string is true",
                    render(&json!(node.type_name()))
                ),
            );
        }
        if node.embedded {
            if node.ty != Some(Type::Object) {
                self.invalid(
                    &tpath,
                    format!(
                        "Invalid value: {}: must be object if x-kubernetes-embedded-resource is true",
                        render(&json!(node.type_name()))
                    ),
                );
            }
            if !node.preserve_unknown && node.properties.is_empty() {
                self.required(
                    &child_path(path, "properties"),
                    "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
                );
            }
        }
    }

    /// A default must survive pruning unchanged and validate against its own
    /// schema (its nested defaults applied), CEL rules included.
    fn check_default(&mut self, node: &Node, default: &Value, path: &str) {
        let dpath = child_path(path, "default");
        let mut value = default.clone();
        default_prune::apply_defaults(node, &mut value);
        let unknown = default_prune::prune(node, &mut value);
        if !unknown.is_empty() {
            self.invalid(
                &dpath,
                format!(
                    "Invalid value: {}: must not have unknown fields: {}",
                    render(default),
                    unknown.join(", ")
                ),
            );
            return;
        }
        for cause in validate::validate_value(node, &value) {
            let field = match cause.field.as_str() {
                "" => dpath.clone(),
                f if f.starts_with('[') => format!("{dpath}{f}"),
                f => format!("{dpath}.{f}"),
            };
            self.causes.push(Cause { field, ..cause });
        }
    }
}

/// `[{type: integer}, {type: string}]`, nothing else.
fn is_int_or_string_any_of(value: &Value) -> bool {
    *value == json!([{"type": "integer"}, {"type": "string"}])
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s).trim()
}
