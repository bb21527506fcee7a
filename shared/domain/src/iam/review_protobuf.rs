//! The review kinds as kubectl ≥ 1.32 sends them: Kubernetes' protobuf
//! encoding (`application/vnd.kubernetes.protobuf`), read into the JSON
//! document the rest of the pipeline reads. Only the review kinds are read
//! this way (their fields are few and fixed); every other body stays JSON
//! or YAML. The answer is JSON, which such a client also accepts.
//!
//! The encoding: the magic `k8s\0`, then a `runtime.Unknown` message
//! (1: TypeMeta {1: apiVersion, 2: kind}, 2: the object's bytes), the
//! object a message of 1: metadata, 2: spec, 3: status.

use serde_json::{json, Map, Value};

const MAGIC: &[u8] = b"k8s\0";

/// One field of a protobuf message as the wire carries it.
enum Wire<'a> {
    Varint,
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of a message, in order (a repeated field appears again).
fn fields(mut bytes: &[u8]) -> Result<Vec<(u64, Wire<'_>)>, String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let wire = match key & 7 {
            0 => {
                varint(&mut bytes)?;
                Wire::Varint
            }
            1 => skip(&mut bytes, 8).map(|_| Wire::Fixed)?,
            2 => {
                let length = usize::try_from(varint(&mut bytes)?)
                    .map_err(|_| "a field is longer than this machine can hold")?;
                Wire::Bytes(skip(&mut bytes, length)?)
            }
            5 => skip(&mut bytes, 4).map(|_| Wire::Fixed)?,
            other => return Err(format!("wire type {other} is not one the review kinds use")),
        };
        out.push((key >> 3, wire));
    }
    Ok(out)
}

fn varint(bytes: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes
            .split_first()
            .ok_or("the message ends inside a number")?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("a number is longer than ten bytes".into())
}

fn skip<'a>(bytes: &mut &'a [u8], length: usize) -> Result<&'a [u8], String> {
    if bytes.len() < length {
        return Err("the message ends inside a field".into());
    }
    let (field, rest) = bytes.split_at(length);
    *bytes = rest;
    Ok(field)
}

/// The message in field `number` (the last one, as protobuf merges).
fn message<'a>(fields: &[(u64, Wire<'a>)], number: u64) -> Option<&'a [u8]> {
    fields.iter().rev().find_map(|(n, wire)| match wire {
        Wire::Bytes(bytes) if *n == number => Some(*bytes),
        _ => None,
    })
}

fn text(fields: &[(u64, Wire<'_>)], number: u64) -> Result<Option<String>, String> {
    message(fields, number)
        .map(|bytes| {
            String::from_utf8(bytes.to_vec()).map_err(|_| format!("field {number} is not UTF-8"))
        })
        .transpose()
}

fn texts(fields: &[(u64, Wire<'_>)], number: u64) -> Result<Vec<String>, String> {
    fields
        .iter()
        .filter_map(|(n, wire)| match wire {
            Wire::Bytes(bytes) if *n == number => Some(*bytes),
            _ => None,
        })
        .map(|bytes| String::from_utf8(bytes.to_vec()).map_err(|_| "a group is not UTF-8".into()))
        .collect()
}

/// Named string fields of a message, as a JSON object (empty ones left out).
fn strings(bytes: &[u8], names: &[(u64, &str)]) -> Result<Value, String> {
    let fields = fields(bytes)?;
    let mut object = Map::new();
    for (number, name) in names {
        if let Some(value) = text(&fields, *number)?.filter(|v| !v.is_empty()) {
            object.insert((*name).to_string(), Value::String(value));
        }
    }
    Ok(Value::Object(object))
}

const RESOURCE_ATTRIBUTES: [(u64, &str); 7] = [
    (1, "namespace"),
    (2, "verb"),
    (3, "group"),
    (4, "version"),
    (5, "resource"),
    (6, "subresource"),
    (7, "name"),
];

/// A review sent as protobuf, as the JSON document it stands for; an
/// error says what could not be read (a 400), or that the kind is not a
/// review (which is sent as JSON or YAML).
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or("a protobuf body starts with the bytes k8s\\0")?;
    let unknown = fields(envelope)?;
    let type_meta = fields(message(&unknown, 1).unwrap_or_default())?;
    let api_version = text(&type_meta, 1)?.unwrap_or_default();
    let kind = text(&type_meta, 2)?.unwrap_or_default();
    let object = fields(message(&unknown, 2).unwrap_or_default())?;
    let spec = fields(message(&object, 2).unwrap_or_default())?;
    let spec = match kind.as_str() {
        "SelfSubjectAccessReview" | "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            access_spec(&spec)?
        }
        "SelfSubjectRulesReview" => json!({"namespace": text(&spec, 1)?.unwrap_or_default()}),
        "SelfSubjectReview" => json!({}),
        other => {
            return Err(format!(
                "{other:?} is not a review kind; only reviews are read from protobuf, send it as JSON or YAML"
            ))
        }
    };
    Ok(json!({"apiVersion": api_version, "kind": kind, "spec": spec}))
}

/// An access review's spec: 1 resourceAttributes, 2 nonResourceAttributes,
/// 3 user, 4 groups (SubjectAccessReview's; a self review has neither).
fn access_spec(spec: &[(u64, Wire<'_>)]) -> Result<Value, String> {
    let mut out = Map::new();
    if let Some(attributes) = message(spec, 1) {
        out.insert(
            "resourceAttributes".into(),
            strings(attributes, &RESOURCE_ATTRIBUTES)?,
        );
    }
    if let Some(attributes) = message(spec, 2) {
        out.insert(
            "nonResourceAttributes".into(),
            strings(attributes, &[(1, "path"), (2, "verb")])?,
        );
    }
    if let Some(user) = text(spec, 3)? {
        out.insert("user".into(), Value::String(user));
    }
    let groups = texts(spec, 4)?;
    if !groups.is_empty() {
        out.insert("groups".into(), json!(groups));
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A length-delimited field, as the encoder writes it.
    fn field(number: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut key = (number << 3) | 2;
        let mut length = bytes.len() as u64;
        for value in [&mut key, &mut length] {
            loop {
                let byte = (*value & 0x7f) as u8;
                *value >>= 7;
                if *value == 0 {
                    out.push(byte);
                    break;
                }
                out.push(byte | 0x80);
            }
        }
        out.extend_from_slice(bytes);
        out
    }

    fn envelope(kind: &str, spec: Vec<u8>) -> Vec<u8> {
        let type_meta = [
            field(1, b"authorization.k8s.io/v1"),
            field(2, kind.as_bytes()),
        ]
        .concat();
        let object = [field(1, &[]), field(2, &spec)].concat();
        [MAGIC.to_vec(), field(1, &type_meta), field(2, &object)].concat()
    }

    #[test]
    fn kubectls_can_i_reads_as_its_json() {
        let attributes = [
            field(1, b"default"),
            field(2, b"get"),
            field(3, b"resourcemanager.miloapis.com"),
            field(5, b"organizations"),
            field(7, b"acme"),
        ]
        .concat();
        let body = envelope("SelfSubjectAccessReview", field(1, &attributes));
        assert_eq!(
            decode(&body).unwrap(),
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                   "spec": {"resourceAttributes": {"namespace": "default", "verb": "get",
                            "group": "resourcemanager.miloapis.com", "resource": "organizations", "name": "acme"}}})
        );
    }

    #[test]
    fn a_subject_access_review_keeps_its_user_and_groups() {
        let attributes = [field(2, b"list"), field(5, b"projects")].concat();
        let spec = [
            field(1, &attributes),
            field(3, b"alice"),
            field(4, b"a"),
            field(4, b"b"),
        ]
        .concat();
        let decoded = decode(&envelope("SubjectAccessReview", spec)).unwrap();
        assert_eq!(decoded["spec"]["user"], "alice");
        assert_eq!(decoded["spec"]["groups"], json!(["a", "b"]));
    }

    #[test]
    fn rules_and_whoami_read_too() {
        let rules = decode(&envelope("SelfSubjectRulesReview", field(1, b"team"))).unwrap();
        assert_eq!(rules["spec"]["namespace"], "team");
        let whoami = decode(&envelope("SelfSubjectReview", Vec::new())).unwrap();
        assert_eq!(whoami["kind"], "SelfSubjectReview");
    }

    #[test]
    fn what_is_not_a_review_or_not_protobuf_is_refused_saying_why() {
        assert!(decode(b"{}").unwrap_err().contains("k8s"));
        let other = decode(&envelope("Project", Vec::new())).unwrap_err();
        assert!(other.contains("send it as JSON"), "{other}");
        let cut = &envelope("SelfSubjectAccessReview", field(1, &field(2, b"get")))[..20];
        assert!(decode(cut).is_err());
    }
}
