//! Structural OpenAPI v3 schemas of resource types (a CRD version's
//! `openAPIV3Schema`): compiled once at registration, then used to default,
//! prune and validate objects, CEL rules (`x-kubernetes-validations`)
//! included. Pure: no I/O.
//!
//! The semantics follow Kubernetes' apiextensions-apiserver:
//!
//! - [`Schema::compile`] enforces the structural-schema rules (every node
//!   typed, no types or defaults inside `allOf`/`anyOf`/`oneOf`/`not`, ...),
//!   pre-compiles patterns and CEL rules and checks every `default` against
//!   its own schema;
//! - [`Schema::apply_defaults`] and [`Schema::prune`] walk the object along
//!   the schema, as the server does on every write;
//! - [`Schema::validate`] runs the OpenAPI value validations first and the
//!   CEL rules second (skipped, as in Kubernetes, when a type or enum error
//!   makes the object unfit for them), with validation ratcheting on update:
//!   an error on a value that did not change is dropped.
//!
//! Causes are phrased as Kubernetes' `field.Error.ErrorBody()`: the message
//! starts with the error type and the bad value, e.g. `Invalid value:
//! "string": spec.replicas in body must be of type integer: "string"`,
//! `Unsupported value: "x": supported values: "a", "b"`, `Required value`,
//! `Too long: may not be longer than 5`; a failed CEL rule is `Invalid value:
//! "object": <message>`. Paths have no leading dot and use brackets for list
//! indices and map keys: `spec.ports[0].name`, `spec.labels[foo]`.
//!
//! Where this differs from Kubernetes: `additionalProperties: true` keeps
//! the values whole (Kubernetes prunes inside them); no CEL cost estimation
//! or runtime budget (see `rules`); `metadata` is never validated, the root's
//! nor an embedded resource's.
//!
//! The submodules: `node` (the compiled tree), `compile`, `validate` (value
//! validations and the shared walk), `rules` (CEL), `default_prune`,
//! `format` (the `format` checks), `shape` (how values merge under
//! server-side apply).

mod compile;
mod default_prune;
mod format;
mod node;
mod rules;
mod shape;
mod validate;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cel;
#[cfg(test)]
mod tests_milo;

use std::sync::Arc;

use serde_json::Value;

use crate::Cause;
use node::Node;
pub use shape::{ListShape, Shape};

/// How deep a schema may nest (schema nodes, not JSON levels), and how deep
/// the validation walk goes into an object. Guards against pathological
/// input: every walk here recurses along the schema, so this bounds them.
const MAX_DEPTH: usize = 64;

/// A compiled schema. Cheap to share behind an `Arc`.
///
/// Equality compares the schema as registered: the compiled form is a pure
/// function of it.
#[derive(Debug, Clone)]
pub struct Schema {
    raw: Value,
    root: Arc<Node>,
}

impl PartialEq for Schema {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Schema {
    /// Compiles an `openAPIV3Schema`. `base` prefixes the field paths of the
    /// causes (e.g. `spec.versions[0].schema.openAPIV3Schema`). Refuses a
    /// schema that is not structural, has unknown types, a regex that does
    /// not compile, a CEL rule that does not compile or uses variables other
    /// than `self` and `oldSelf`, or a `default` its own schema refuses.
    /// Unknown `format`s are accepted and not checked, as in Kubernetes.
    pub fn compile(doc: &Value, base: &str) -> Result<Schema, Vec<Cause>> {
        let root = compile::compile_root(doc, base)?;
        Ok(Schema {
            raw: doc.clone(),
            root: Arc::new(root),
        })
    }

    /// The schema as registered, for OpenAPI publication.
    pub fn raw(&self) -> &Value {
        &self.raw
    }

    /// Applies `default`s to `object` (a whole object: apiVersion, kind,
    /// metadata, spec, ...): absent properties, and `null`s of non-nullable
    /// ones, get a copy of their default; defaults inside defaulted values
    /// are applied too.
    pub fn apply_defaults(&self, object: &mut Value) {
        default_prune::apply_defaults(&self.root, object);
    }

    /// Removes fields the schema does not know (outside
    /// `x-kubernetes-preserve-unknown-fields`), returning their paths
    /// (`spec.foo`, `spec.items[2].bar`, `spec.labels[key].x`). `apiVersion`,
    /// `kind` and `metadata` at the root (and in embedded resources) are never
    /// pruned here.
    pub fn prune(&self, object: &mut Value) -> Vec<String> {
        default_prune::prune(&self.root, object)
    }

    /// The shape of the whole object, for server-side apply's merge.
    pub fn shape(&self) -> Shape<'_> {
        Shape::of(&self.root)
    }

    /// Validates `object` (already defaulted and pruned); `old` is the stored
    /// object on update, for transition rules (`oldSelf`) and ratcheting.
    /// One cause per failing field, with its path. `metadata` is left to the
    /// server's own metadata rules.
    pub fn validate(&self, object: &Value, old: Option<&Value>) -> Vec<Cause> {
        validate::validate(&self.root, object, old)
    }
}

/// `path.name`, or `name` at the root.
fn child_path(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// `path[key]`: a map key or a list index.
fn key_path(path: &str, key: impl std::fmt::Display) -> String {
    format!("{path}[{key}]")
}

/// A value as Kubernetes prints it in `Invalid value: ...`: strings quoted,
/// scalars bare, the rest as JSON.
fn render(value: &Value) -> String {
    match value {
        Value::Null => "\"null\"".to_string(),
        Value::String(s) => Value::String(s.clone()).to_string(),
        other => other.to_string(),
    }
}
