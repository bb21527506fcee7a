//! Reading the two JSON forms into a [`LifecycleEvent`]. Fields are read one
//! by one from the parsed object rather than through a derived struct, so a
//! refusal names the field at fault and says what is wrong with it.
//!
//! `null` is read as absent everywhere: Go publishers write a nil slice or
//! map as `null`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::dead_letter::{DeadLetter, DeadLetterReason as R};
use super::message::{Actor, EventType, FieldChange, LifecycleEvent, MessageForm};
use super::prefixed::{PrefixMap, PrefixedId};
use super::subject::NatsSubject;
use super::urn::Urn;
use super::{clip, shown};

/// The keys of one form.
struct Names {
    form: MessageForm,
    subject: &'static str,
    event_type: &'static str,
    additional_subjects: &'static str,
    actor: &'static str,
    fields: &'static str,
    additional_data: &'static str,
    /// A field `{relation}{suffix}` names a related resource.
    relation_suffix: &'static str,
}

const SNAKE: Names = Names {
    form: MessageForm::Snake,
    subject: "subject_urn",
    event_type: "event_type",
    additional_subjects: "additional_subjects",
    actor: "actor_urn",
    fields: "fields",
    additional_data: "additional_data",
    relation_suffix: "_urn",
};

const CAMEL: Names = Names {
    form: MessageForm::Camel,
    subject: "subjectID",
    event_type: "eventType",
    additional_subjects: "additionalSubjects",
    actor: "actorID",
    fields: "subjectFields",
    additional_data: "additionalData",
    relation_suffix: "_id",
};

/// The payload as a JSON object.
pub(super) fn parse_object(payload: &[u8]) -> Result<Map<String, Value>, DeadLetter> {
    match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(DeadLetter::new(
            R::MalformedJson,
            format!("the message is a JSON {}, not an object", kind(&other)),
        )),
        Err(e) if e.is_eof() => Err(DeadLetter::new(
            R::Truncated,
            format!("the message ends before its JSON is complete ({e}); was it cut off?"),
        )),
        Err(e) => Err(DeadLetter::new(
            R::MalformedJson,
            format!("the message is not valid JSON: {e}"),
        )),
    }
}

/// A reference read from a message: a URN, or a prefixed id whose prefix
/// the configuration does not know.
enum Reference {
    Urn(Urn),
    Unresolved(PrefixedId),
}

/// How one form names resources.
struct Ids<'a> {
    form: MessageForm,
    prefixes: &'a PrefixMap,
}

impl Ids<'_> {
    fn reference(&self, field: &str, value: &str) -> Result<Reference, DeadLetter> {
        match self.form {
            MessageForm::Snake => Urn::parse(value)
                .map(Reference::Urn)
                .map_err(|e| DeadLetter::new(R::InvalidUrn, format!("`{field}`: {e}"))),
            MessageForm::Camel => {
                let id = PrefixedId::parse(value).map_err(|e| {
                    DeadLetter::new(R::InvalidPrefixedId, format!("`{field}`: {e}"))
                })?;
                Ok(match id.resolve(self.prefixes) {
                    Ok(urn) => Reference::Urn(urn),
                    Err(_) => Reference::Unresolved(id),
                })
            }
        }
    }

    /// The resource itself must resolve: without its type nothing can be done.
    fn subject(&self, field: &str, value: &str) -> Result<Urn, DeadLetter> {
        match self.reference(field, value)? {
            Reference::Urn(urn) => Ok(urn),
            Reference::Unresolved(id) => Err(DeadLetter::new(
                R::UnknownPrefix,
                format!(
                    "`{field}`: the id prefix `{}` is not configured; add `{}=namespace:resource_type` to the prefix map",
                    id.prefix(),
                    id.prefix()
                ),
            )),
        }
    }
}

pub(super) fn extract(
    object: &Map<String, Value>,
    nats: &NatsSubject,
    prefixes: &PrefixMap,
) -> Result<LifecycleEvent, DeadLetter> {
    let names = match (
        object.contains_key(SNAKE.subject),
        object.contains_key(CAMEL.subject),
    ) {
        (true, false) => &SNAKE,
        (false, true) => &CAMEL,
        (true, true) => return Err(DeadLetter::new(
            R::UnknownForm,
            "the message has both `subject_urn` and `subjectID`; it must be one form or the other",
        )),
        (false, false) => return Err(DeadLetter::new(
            R::UnknownForm,
            "the message has neither `subject_urn` nor `subjectID`; it is not a lifecycle event",
        )),
    };
    let ids = Ids {
        form: names.form,
        prefixes,
    };

    let subject = ids.subject(names.subject, required_str(object, names.subject)?)?;
    let event = required_str(object, names.event_type)?;
    let event_type = EventType::parse(event).ok_or_else(|| {
        DeadLetter::new(
            R::UnknownEventType,
            format!(
                "`{}` is {}; it must be create, update or delete",
                names.event_type,
                shown(event)
            ),
        )
    })?;
    agree(nats, &subject, event_type, names)?;
    let timestamp = timestamp(required_str(object, "timestamp")?)?;

    let mut additional_subjects = Vec::new();
    let mut unresolved_subjects = Vec::new();
    for (i, value) in str_list(object, names.additional_subjects)?
        .into_iter()
        .enumerate()
    {
        match ids.reference(&format!("{}[{i}]", names.additional_subjects), value)? {
            Reference::Urn(urn) => additional_subjects.push(urn),
            Reference::Unresolved(id) => unresolved_subjects.push(id),
        }
    }
    let actor = match optional_str(object, names.actor)? {
        None | Some("") => None,
        Some(value) => Some(match ids.reference(names.actor, value)? {
            Reference::Urn(urn) => Actor::Urn(urn),
            Reference::Unresolved(id) => Actor::Unresolved(id),
        }),
    };
    let source = optional_str(object, "source")?
        .unwrap_or_default()
        .to_string();
    let fields = str_map(object, names.fields)?;
    let (related, unresolved_related) = related(&fields, names, &ids)?;
    let (field_changes, trace_context) = match names.form {
        MessageForm::Camel => (field_changes(object)?, str_map(object, "traceContext")?),
        MessageForm::Snake => (Vec::new(), BTreeMap::new()),
    };
    let additional_data = json_object(object, names.additional_data)?;

    Ok(LifecycleEvent {
        form: names.form,
        subject,
        event_type,
        additional_subjects,
        unresolved_subjects,
        actor,
        source,
        timestamp,
        fields,
        related,
        unresolved_related,
        field_changes,
        trace_context,
        additional_data,
    })
}

/// The subject and the message must name the same event and type: a
/// mismatch means a publisher bug, and applying either reading could be wrong.
fn agree(
    nats: &NatsSubject,
    subject: &Urn,
    event_type: EventType,
    names: &Names,
) -> Result<(), DeadLetter> {
    if nats.event_type != event_type {
        return Err(DeadLetter::new(
            R::EventTypeMismatch,
            format!(
                "the NATS subject says `{}` but `{}` is `{event_type}`",
                nats.event_type, names.event_type
            ),
        ));
    }
    if nats.resource_type != subject.resource_type() {
        return Err(DeadLetter::new(
            R::ResourceTypeMismatch,
            format!(
                "the NATS subject says resource type `{}` but `{}` is a `{}`",
                nats.resource_type,
                names.subject,
                subject.resource_type()
            ),
        ));
    }
    Ok(())
}

fn timestamp(value: &str) -> Result<DateTime<Utc>, DeadLetter> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            DeadLetter::new(
                R::InvalidTimestamp,
                format!("`timestamp` {} is not an RFC 3339 time: {e}", shown(value)),
            )
        })
}

type Related = (Vec<(String, Urn)>, Vec<(String, PrefixedId)>);

/// The relations named by fields. A snake `{foo}_urn` field must hold a URN:
/// the suffix says it does. A camel `{foo}_id` field is a reference only if
/// it holds a prefixed id, since `_id` also ends plain fields.
fn related(
    fields: &BTreeMap<String, String>,
    names: &Names,
    ids: &Ids,
) -> Result<Related, DeadLetter> {
    let mut related = Vec::new();
    let mut unresolved = Vec::new();
    for (key, value) in fields {
        let Some(relation) = key
            .strip_suffix(names.relation_suffix)
            .filter(|r| !r.is_empty())
        else {
            continue;
        };
        let field = format!("{}.{}", names.fields, clip(key));
        let reference = match names.form {
            MessageForm::Snake => ids.reference(&field, value)?,
            MessageForm::Camel if PrefixedId::parse(value).is_ok() => {
                ids.reference(&field, value)?
            }
            MessageForm::Camel => continue,
        };
        match reference {
            Reference::Urn(urn) => related.push((relation.to_string(), urn)),
            Reference::Unresolved(id) => unresolved.push((relation.to_string(), id)),
        }
    }
    Ok((related, unresolved))
}

fn field_changes(object: &Map<String, Value>) -> Result<Vec<FieldChange>, DeadLetter> {
    let Some(value) = present(object, "fieldChanges") else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = value else {
        return Err(wrong_type("fieldChanges", value, "an array"));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let name = format!("fieldChanges[{i}]");
            let Value::Object(change) = item else {
                return Err(wrong_type(&name, item, "an object"));
            };
            let string = |key: &str| -> Result<Option<String>, DeadLetter> {
                match present(change, key) {
                    None => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    Some(other) => Err(wrong_type(&format!("{name}.{key}"), other, "a string")),
                }
            };
            Ok(FieldChange {
                field: string("field")?.ok_or_else(|| {
                    DeadLetter::new(R::MissingField, format!("`{name}` has no `field`"))
                })?,
                previous_value: string("previousValue")?.unwrap_or_default(),
                current_value: string("currentValue")?.unwrap_or_default(),
            })
        })
        .collect()
}

/// A key's value, `null` counted as absent.
fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|v| !v.is_null())
}

fn required_str<'a>(object: &'a Map<String, Value>, key: &str) -> Result<&'a str, DeadLetter> {
    optional_str(object, key)?
        .ok_or_else(|| DeadLetter::new(R::MissingField, format!("the message has no `{key}`")))
}

fn optional_str<'a>(
    object: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, DeadLetter> {
    match present(object, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(key, other, "a string")),
    }
}

fn str_list<'a>(object: &'a Map<String, Value>, key: &str) -> Result<Vec<&'a str>, DeadLetter> {
    match present(object, key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str()
                    .ok_or_else(|| wrong_type(&format!("{key}[{i}]"), item, "a string"))
            })
            .collect(),
        Some(other) => Err(wrong_type(key, other, "an array of strings")),
    }
}

fn str_map(object: &Map<String, Value>, key: &str) -> Result<BTreeMap<String, String>, DeadLetter> {
    match present(object, key) {
        None => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(wrong_type(&format!("{key}.{k}"), other, "a string")),
            })
            .collect(),
        Some(other) => Err(wrong_type(key, other, "an object of strings")),
    }
}

fn json_object(object: &Map<String, Value>, key: &str) -> Result<Map<String, Value>, DeadLetter> {
    match present(object, key) {
        None => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(other) => Err(wrong_type(key, other, "an object")),
    }
}

fn wrong_type(field: &str, value: &Value, expected: &str) -> DeadLetter {
    DeadLetter::new(
        R::InvalidField,
        format!("`{}` is {}, not {expected}", clip(field), kind(value)),
    )
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
