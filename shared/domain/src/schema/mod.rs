//! Structural OpenAPI v3 schemas of resource types (a CRD version's
//! `openAPIV3Schema`): compiled once at registration, then used to default,
//! prune and validate objects, CEL rules (`x-kubernetes-validations`)
//! included. Pure: no I/O.
//!
//! STUB: the real implementation is being written; the API below is the
//! contract the rest of the code uses.

use serde_json::Value;

use crate::Cause;

/// A compiled schema. Cheap to share behind an `Arc`.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    raw: Value,
}

impl Schema {
    /// Compiles an `openAPIV3Schema`. `base` prefixes the field paths of the
    /// causes (e.g. `spec.versions[0].schema.openAPIV3Schema`). Refuses a
    /// schema that is not structural, has unknown types or formats, a regex
    /// that does not compile, or a CEL rule that does not compile.
    pub fn compile(doc: &Value, base: &str) -> Result<Schema, Vec<Cause>> {
        let _ = base;
        Ok(Schema { raw: doc.clone() })
    }

    /// The schema as registered, for OpenAPI publication.
    pub fn raw(&self) -> &Value {
        &self.raw
    }

    /// Applies `default`s to `object` (a whole object: apiVersion, kind,
    /// metadata, spec, ...).
    pub fn apply_defaults(&self, object: &mut Value) {
        let _ = object;
    }

    /// Removes fields the schema does not know (outside
    /// `x-kubernetes-preserve-unknown-fields`), returning their paths
    /// (`spec.foo`, `spec.items[2].bar`). `apiVersion`, `kind` and
    /// `metadata` at the root are never pruned here.
    pub fn prune(&self, object: &mut Value) -> Vec<String> {
        let _ = object;
        Vec::new()
    }

    /// Validates `object` (already defaulted and pruned); `old` is the stored
    /// object on update, for transition rules (`oldSelf`) and ratcheting.
    /// One cause per failing field, with its path. `metadata` is left to the
    /// server's own metadata rules.
    pub fn validate(&self, object: &Value, old: Option<&Value>) -> Vec<Cause> {
        let _ = (object, old);
        Vec::new()
    }
}
