//! `metadata.managedFields`: who manages which fields, each entry one
//! manager's fields for one operation (and subresource), as Kubernetes
//! records them.

use serde_json::{json, Value};

use super::field_set::FieldSet;

/// How a manager last wrote its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Server-side apply: the manager's fields are what it applied.
    Apply,
    /// Any other write (create, update, patch): the fields it changed.
    Update,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One entry of `managedFields`.
#[derive(Debug, Clone, PartialEq)]
pub struct Manager {
    pub name: String,
    pub operation: Operation,
    pub api_version: String,
    pub time: String,
    /// "" for the main resource, `status` for the status subresource.
    pub subresource: String,
    pub fields: FieldSet,
}

/// Who writes, as a manager: the request's `fieldManager` and what it
/// writes through.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    /// When (RFC 3339).
    pub time: &'a str,
    pub subresource: &'a str,
}

impl Writer<'_> {
    pub(super) fn is(&self, manager: &Manager, operation: Operation) -> bool {
        manager.name == self.manager
            && manager.operation == operation
            && manager.subresource == self.subresource
    }
}

/// An object's managers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ManagedFields(pub Vec<Manager>);

impl ManagedFields {
    /// The managers `object`'s metadata lists; none when it lists none.
    pub fn of(object: &Value) -> Result<ManagedFields, String> {
        match object.pointer("/metadata/managedFields") {
            None | Some(Value::Null) => Ok(ManagedFields::default()),
            Some(Value::Array(entries)) => entries
                .iter()
                .enumerate()
                .map(|(i, entry)| read(entry).map_err(|e| format!("[{i}]: {e}")))
                .collect::<Result<_, _>>()
                .map(ManagedFields),
            Some(_) => Err("is not a list".into()),
        }
    }

    /// Writes them into `object`'s metadata (none: the field goes).
    pub fn write_to(&self, object: &mut Value) {
        let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
            return;
        };
        if self.0.is_empty() {
            metadata.remove("managedFields");
            return;
        }
        let entries = self.0.iter().map(entry).collect();
        metadata.insert("managedFields".into(), Value::Array(entries));
    }

    /// The fields of every manager but `writer`'s `operation` entry.
    pub(super) fn others(&self, writer: &Writer<'_>, operation: Operation) -> FieldSet {
        let mut all = FieldSet::default();
        for manager in self.0.iter().filter(|m| !writer.is(m, operation)) {
            all.add(manager.fields.clone());
        }
        all
    }

    /// The fields of `writer`'s entry for `operation` (none if it has
    /// no entry).
    pub(super) fn fields_of(&self, writer: &Writer<'_>, operation: Operation) -> FieldSet {
        self.0
            .iter()
            .find(|m| writer.is(m, operation))
            .map(|m| m.fields.clone())
            .unwrap_or_default()
    }

    /// Sets `writer`'s fields for `operation`. Its time and apiVersion move
    /// only when they change: a write that changes nothing else stays a
    /// no-op, as in Kubernetes.
    pub(super) fn set(&mut self, writer: &Writer<'_>, operation: Operation, fields: FieldSet) {
        match self.0.iter_mut().find(|m| writer.is(m, operation)) {
            Some(manager)
                if manager.fields == fields && manager.api_version == writer.api_version => {}
            Some(manager) => {
                manager.fields = fields;
                manager.api_version = writer.api_version.to_string();
                manager.time = writer.time.to_string();
            }
            None => self.0.push(Manager {
                name: writer.manager.to_string(),
                operation,
                api_version: writer.api_version.to_string(),
                time: writer.time.to_string(),
                subresource: writer.subresource.to_string(),
                fields,
            }),
        }
    }

    /// Drops the managers left with no field.
    pub(super) fn drop_empty(&mut self) {
        self.0.retain(|m| !m.fields.is_empty());
    }
}

fn read(entry: &Value) -> Result<Manager, String> {
    let text = |name: &str| entry.get(name).and_then(Value::as_str).unwrap_or_default();
    let operation = match text("operation") {
        "Apply" => Operation::Apply,
        "Update" => Operation::Update,
        other => return Err(format!("operation {other:?} is not Apply or Update")),
    };
    if !matches!(text("fieldsType"), "FieldsV1" | "") {
        return Err(format!(
            "fieldsType {:?} is not FieldsV1",
            text("fieldsType")
        ));
    }
    let fields = match entry.get("fieldsV1") {
        Some(fields) => FieldSet::from_fields_v1(fields)?,
        None => FieldSet::default(),
    };
    Ok(Manager {
        name: text("manager").to_string(),
        operation,
        api_version: text("apiVersion").to_string(),
        time: text("time").to_string(),
        subresource: text("subresource").to_string(),
        fields,
    })
}

fn entry(manager: &Manager) -> Value {
    let mut entry = json!({
        "manager": manager.name,
        "operation": manager.operation.name(),
        "apiVersion": manager.api_version,
        "time": manager.time,
        "fieldsType": "FieldsV1",
        "fieldsV1": manager.fields.to_fields_v1(),
    });
    if !manager.subresource.is_empty() {
        entry["subresource"] = json!(manager.subresource);
    }
    entry
}
