//! The compiled schema tree: one [`Node`] per schema object, with everything
//! parsed, checked and pre-compiled once so that the walks over objects do no
//! parsing of their own.

use regex::Regex;
use serde_json::{Number, Value};

use super::rules::Rule;

/// The six OpenAPI types a structural schema may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Type {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
}

impl Type {
    pub(super) const NAMES: [&'static str; 6] =
        ["array", "boolean", "integer", "number", "object", "string"];

    pub(super) fn parse(name: &str) -> Option<Type> {
        Some(match name {
            "object" => Type::Object,
            "array" => Type::Array,
            "string" => Type::String,
            "integer" => Type::Integer,
            "number" => Type::Number,
            "boolean" => Type::Boolean,
            _ => return None,
        })
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Type::Object => "object",
            Type::Array => "array",
            Type::String => "string",
            Type::Integer => "integer",
            Type::Number => "number",
            Type::Boolean => "boolean",
        }
    }
}

/// `additionalProperties`.
#[derive(Debug, Default)]
pub(super) enum Additional {
    /// Not specified: only the declared `properties` are known.
    #[default]
    Absent,
    /// `true`: any value under any key, kept as is.
    Any,
    /// A schema for the values of a map.
    Schema(Box<Node>),
}

/// `x-kubernetes-list-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ListType {
    Atomic,
    Set,
    Map,
}

/// A `pattern`, with its source for the error messages.
#[derive(Debug)]
pub(super) struct Pattern {
    pub source: String,
    pub regex: Regex,
}

/// `minimum`/`maximum` with their `exclusive*` flags.
#[derive(Debug)]
pub(super) struct Bound {
    pub limit: Number,
    pub exclusive: bool,
}

/// One compiled schema node.
#[derive(Debug, Default)]
pub(super) struct Node {
    /// `None` only where Kubernetes allows an untyped node: int-or-string,
    /// preserve-unknown-fields, embedded resources, and inside junctors.
    pub ty: Option<Type>,
    pub nullable: bool,
    pub format: Option<String>,
    /// In declaration order, which is the order defaults are added in.
    pub properties: Vec<(String, Node)>,
    pub required: Vec<String>,
    pub items: Option<Box<Node>>,
    pub additional: Additional,
    pub enumeration: Option<Vec<Value>>,
    pub pattern: Option<Pattern>,
    pub minimum: Option<Bound>,
    pub maximum: Option<Bound>,
    pub multiple_of: Option<Number>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub min_properties: Option<u64>,
    pub max_properties: Option<u64>,
    pub default: Option<Value>,
    pub int_or_string: bool,
    pub preserve_unknown: bool,
    pub embedded: bool,
    /// The root of the resource: like an embedded resource, its `apiVersion`,
    /// `kind` and `metadata` are the server's business.
    pub is_root: bool,
    pub list_type: Option<ListType>,
    pub list_map_keys: Vec<String>,
    /// `x-kubernetes-map-type: atomic`: an object replaced and owned whole
    /// by server-side apply.
    pub map_atomic: bool,
    pub rules: Vec<Rule>,
    /// Whether this node or one below it has CEL rules: the rules walk skips
    /// the subtrees without.
    pub has_rules: bool,
    pub all_of: Vec<Node>,
    pub any_of: Vec<Node>,
    pub one_of: Vec<Node>,
    pub not: Option<Box<Node>>,
}

impl Node {
    pub(super) fn property(&self, name: &str) -> Option<&Node> {
        self.properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, node)| node)
    }

    /// Whether `apiVersion`, `kind` and `metadata` of this object belong to
    /// the server rather than to the schema.
    pub(super) fn is_resource(&self) -> bool {
        self.is_root || self.embedded
    }

    /// Whether the key `key` of a value of this node is one of the resource
    /// fields the schema leaves alone.
    pub(super) fn is_resource_field(&self, key: &str) -> bool {
        self.is_resource() && matches!(key, "apiVersion" | "kind" | "metadata")
    }

    /// The schema of the value under `key` of an object of this node, and
    /// whether it is a map entry (`[key]` in paths) rather than a property.
    pub(super) fn child(&self, key: &str) -> Option<(&Node, bool)> {
        if let Some(node) = self.property(key) {
            return Some((node, false));
        }
        match &self.additional {
            Additional::Schema(node) => Some((node, true)),
            _ => None,
        }
    }

    /// The type named in messages: the declared one, or what an untyped node
    /// accepts.
    pub(super) fn type_name(&self) -> &'static str {
        match self.ty {
            Some(t) => t.name(),
            None if self.int_or_string => "integer-or-string",
            None => "",
        }
    }
}

/// The JSON type of a value, as the type checks see it: an integral number
/// (`3` or `3.0`) is an `integer`.
pub(super) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if is_integer(n) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Whether a JSON number is integral, as Kubernetes' decoder and the OpenAPI
/// type check see it (`1.0` is an integer).
pub(super) fn is_integer(n: &Number) -> bool {
    if n.is_i64() || n.is_u64() {
        return true;
    }
    n.as_f64()
        .is_some_and(|f| f.is_finite() && f.fract() == 0.0 && f.abs() < 9.2e18)
}
