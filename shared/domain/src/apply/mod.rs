//! Server-side apply (#23): field ownership as Kubernetes keeps it in
//! `metadata.managedFields`. Pure: the registry reads the live object,
//! calls [`apply`] or [`record_update`], and writes what they return.
//!
//! - An apply merges the manager's configuration into the live object by
//!   the schema's list and map types ([`Shape`]); a field it changes that
//!   another manager owns is a conflict, unless forced (the other manager
//!   then loses it); a field the manager applied before and no longer does
//!   is removed when no one else owns it. Its fields are then exactly what
//!   it applied.
//! - Every other write (create, update, patch) gives its manager the fields
//!   it changed, and takes them from everyone else.
//!
//! The submodules: `field_set` (paths and fieldsV1), `walk` (the walks
//! along an object and its shape), `managers` (`managedFields` entries).

mod field_set;
mod managers;
mod walk;

#[cfg(test)]
mod tests;

use serde_json::{json, Value};

pub use field_set::{FieldSet, Path, Step};
pub use managers::{ManagedFields, Manager, Operation, Writer};
pub use walk::MissingKey;

use crate::error::{ApiError, Cause};
use crate::schema::Shape;

/// A field the apply would change that another manager owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    pub api_version: String,
    /// As Kubernetes prints it: `.spec.ports[name="http"].port`.
    pub field: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    #[error("Apply failed with {} conflict(s)", .0.len())]
    Conflicts(Vec<Conflict>),
    #[error("{}: the item has no {} (a key of the list)", .0.path, .0.key)]
    MissingKey(MissingKey),
    #[error("metadata.managedFields{0}")]
    ManagedFields(String),
}

impl ApplyError {
    /// The Status of the apply of `name`: 409 for conflicts, one cause per
    /// field; 422 for bad input.
    pub fn to_api_error(&self, group: &str, kind: &str, name: &str) -> ApiError {
        match self {
            ApplyError::Conflicts(conflicts) => ApiError::FieldManagerConflict {
                group: group.into(),
                kind: kind.into(),
                name: name.into(),
                message: conflict_message(conflicts),
                causes: conflicts
                    .iter()
                    .map(|c| Cause {
                        reason: "FieldManagerConflict".into(),
                        message: format!("conflict with {:?} using {}", c.manager, c.api_version),
                        field: c.field.clone(),
                    })
                    .collect(),
            },
            ApplyError::MissingKey(missing) => ApiError::invalid(
                group,
                kind,
                name,
                vec![Cause::required(format!(
                    "{}.{}",
                    missing.path.trim_start_matches('.'),
                    missing.key
                ))],
            ),
            ApplyError::ManagedFields(detail) => ApiError::invalid(
                group,
                kind,
                name,
                vec![Cause::invalid(
                    "metadata.managedFields",
                    format!("Invalid value: {detail}"),
                )],
            ),
        }
    }
}

/// Kubernetes' message: `Apply failed with 1 conflict: conflict with "a"
/// using v1: .spec.x`, the fields listed after it when there are several.
fn conflict_message(conflicts: &[Conflict]) -> String {
    let fields: Vec<String> = conflicts
        .iter()
        .map(|c| {
            format!(
                "conflict with {:?} using {}: {}",
                c.manager, c.api_version, c.field
            )
        })
        .collect();
    match fields.as_slice() {
        [one] => format!("Apply failed with 1 conflict: {one}"),
        many => format!(
            "Apply failed with {} conflicts: {}",
            many.len(),
            many.join("\n")
        ),
    }
}

/// `config` applied by `writer` to `live` (for a create, the object
/// skeleton: apiVersion, kind, metadata). Returns the object to store,
/// its `managedFields` updated.
pub fn apply(
    shape: Shape<'_>,
    live: &Value,
    config: &Value,
    writer: &Writer<'_>,
    force: bool,
) -> Result<Value, ApplyError> {
    let mut managed = ManagedFields::of(live).map_err(ApplyError::ManagedFields)?;
    let applied = walk::fields_of(shape, config).map_err(ApplyError::MissingKey)?;
    let mut merged = walk::merge(shape, live, config);
    let changed = walk::compare(shape, live, &merged).changed;
    let conflicts = conflicts(&managed, writer, &changed);
    if !conflicts.is_empty() && !force {
        return Err(ApplyError::Conflicts(conflicts));
    }
    let previous = managed.fields_of(writer, Operation::Apply);
    for manager in managed.0.iter_mut() {
        manager.fields = manager.fields.difference(&changed);
    }
    // What still stands: another manager's, or what this apply sets (a
    // map it owned whole before, and now only some keys of, stays).
    let standing = managed.others(writer, Operation::Apply).union(&applied);
    let dropped = previous.difference(&applied).not_held_by(&standing);
    walk::remove(shape, &mut merged, &dropped);
    managed.set(writer, Operation::Apply, applied);
    managed.drop_empty();
    managed.write_to(&mut merged);
    Ok(merged)
}

/// The conflicts of a change with the managers other than `writer`'s apply.
fn conflicts(managed: &ManagedFields, writer: &Writer<'_>, changed: &FieldSet) -> Vec<Conflict> {
    let others = managed.0.iter().filter(|m| !writer.is(m, Operation::Apply));
    others
        .flat_map(|manager| {
            let owned = manager.fields.intersection(changed).paths();
            owned.into_iter().map(|path| Conflict {
                manager: manager.name.clone(),
                api_version: manager.api_version.clone(),
                field: Path(&path).to_string(),
            })
        })
        .collect()
}

/// Records a write that is not an apply (a create when `old` is None):
/// `writer` gets the fields it changed, everyone else loses them. The
/// `managedFields` a client sends are taken as the state to start from;
/// none, or an empty list, keep the stored ones; a list of one empty entry
/// clears them (as Kubernetes).
pub fn record_update(
    shape: Shape<'_>,
    old: Option<&Value>,
    new: &mut Value,
    writer: &Writer<'_>,
) -> Result<(), ApplyError> {
    let stored = match old {
        Some(old) => ManagedFields::of(old).map_err(ApplyError::ManagedFields)?,
        None => ManagedFields::default(),
    };
    let mut managed = match new.pointer("/metadata/managedFields") {
        None | Some(Value::Null) => stored,
        Some(Value::Array(sent)) if sent.is_empty() => stored,
        Some(Value::Array(sent)) if sent.len() == 1 && sent[0] == json!({}) => {
            ManagedFields::default()
        }
        Some(_) => ManagedFields::of(new).map_err(ApplyError::ManagedFields)?,
    };
    let empty = json!({});
    let comparison = walk::compare(shape, old.unwrap_or(&empty), new);
    let taken = comparison.changed.union(&comparison.removed);
    let mine = managed
        .fields_of(writer, Operation::Update)
        .difference(&taken)
        .union(&comparison.changed);
    for manager in managed.0.iter_mut() {
        manager.fields = manager.fields.difference(&taken);
    }
    managed.set(writer, Operation::Update, mine);
    managed.drop_empty();
    managed.write_to(new);
    Ok(())
}
