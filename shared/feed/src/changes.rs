//! Which stream records are changes of an object, and what each was. Pure.

use domain::object::Object;
use store::stream::StreamRecord;
use store::ObjectRef;

/// One committed change of one object, decoded from its stream record.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectChange {
    pub at: ObjectRef,
    pub before: Option<Object>,
    pub after: Option<Object>,
}

impl ObjectChange {
    /// The object as it is after the change, or was before its delete.
    pub fn object(&self) -> Option<&Object> {
        self.after.as_ref().or(self.before.as_ref())
    }
}

/// Why a record that names an object is not published.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{pk}/{sk}: its stored document is not an object: {reason}")]
pub struct CorruptRecord {
    pub pk: String,
    pub sk: String,
    pub reason: String,
}

/// The change `record` reports: None for an item that is not an object
/// (an index item, a queue entry) and for a write that left the document
/// as it was (a flag or a counter beside it moved).
pub fn object_change(record: &StreamRecord) -> Result<Option<ObjectChange>, CorruptRecord> {
    let Some(at) = ObjectRef::from_key(&record.key) else {
        return Ok(None);
    };
    if record.old == record.new {
        return Ok(None);
    }
    let decode = |doc: &Option<String>| -> Result<Option<Object>, CorruptRecord> {
        let Some(doc) = doc else {
            return Ok(None);
        };
        serde_json::from_str(doc)
            .map_err(|e| e.to_string())
            .and_then(Object::from_value)
            .map(Some)
            .map_err(|reason| CorruptRecord {
                pk: record.key.pk.clone(),
                sk: record.key.sk.clone(),
                reason,
            })
    };
    Ok(Some(ObjectChange {
        before: decode(&record.old)?,
        after: decode(&record.new)?,
        at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::{Context, ItemKey};

    fn record(pk: &str, old: Option<&str>, new: Option<&str>) -> StreamRecord {
        StreamRecord {
            key: ItemKey {
                pk: pk.into(),
                sk: "default#settings".into(),
            },
            old: old.map(str::to_string),
            new: new.map(str::to_string),
            writer: None,
            sequence: "1".into(),
            created: 0,
        }
    }

    const V1: &str = r#"{"metadata":{"name":"settings","resourceVersion":"1"}}"#;
    const V2: &str = r#"{"metadata":{"name":"settings","resourceVersion":"2"}}"#;

    #[test]
    fn an_object_items_change_is_decoded_with_its_address() {
        let change = object_change(&record("o#project:p#core#ConfigMap", Some(V1), Some(V2)))
            .unwrap()
            .unwrap();
        assert_eq!(change.at.context, Context::Project("p".into()));
        assert_eq!(
            (change.at.kind.as_str(), change.at.namespace.as_str()),
            ("ConfigMap", "default")
        );
        assert_eq!(
            change.before.as_ref().unwrap().metadata.resource_version,
            "1"
        );
        assert_eq!(change.object().unwrap().metadata.resource_version, "2");
    }

    #[test]
    fn other_items_and_unchanged_documents_are_no_change() {
        for pk in ["l#_#core#ConfigMap#app", "gc#terminating", "own#uid"] {
            assert_eq!(object_change(&record(pk, None, Some(V1))), Ok(None), "{pk}");
        }
        let flag_only = record("o#_#core#ConfigMap", Some(V1), Some(V1));
        assert_eq!(object_change(&flag_only), Ok(None));
    }

    #[test]
    fn a_document_that_is_not_an_object_is_refused() {
        let corrupt = object_change(&record("o#_#core#ConfigMap", None, Some("[1]")));
        assert!(matches!(corrupt, Err(CorruptRecord { .. })));
    }
}
