//! Protobuf's wire format, as far as Kubernetes' objects need it: a
//! message's fields in order, and the strings, messages and maps in them.

use serde_json::{Map, Value};

/// One field of a protobuf message as the wire carries it.
pub(super) enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of a message, in order (a repeated field appears again).
pub(super) fn fields(mut bytes: &[u8]) -> Result<Vec<(u64, Wire<'_>)>, String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let wire = match key & 7 {
            0 => Wire::Varint(varint(&mut bytes)?),
            1 => skip(&mut bytes, 8).map(|_| Wire::Fixed)?,
            2 => {
                let length = usize::try_from(varint(&mut bytes)?)
                    .map_err(|_| "a field is longer than this machine can hold")?;
                Wire::Bytes(skip(&mut bytes, length)?)
            }
            5 => skip(&mut bytes, 4).map(|_| Wire::Fixed)?,
            other => {
                return Err(format!(
                    "wire type {other} is not one Kubernetes' objects use"
                ))
            }
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
pub(super) fn message<'a>(fields: &[(u64, Wire<'a>)], number: u64) -> Option<&'a [u8]> {
    fields.iter().rev().find_map(|(n, wire)| match wire {
        Wire::Bytes(bytes) if *n == number => Some(*bytes),
        _ => None,
    })
}

pub(super) fn text(fields: &[(u64, Wire<'_>)], number: u64) -> Result<Option<String>, String> {
    message(fields, number)
        .map(|bytes| {
            String::from_utf8(bytes.to_vec()).map_err(|_| format!("field {number} is not UTF-8"))
        })
        .transpose()
}

pub(super) fn texts(fields: &[(u64, Wire<'_>)], number: u64) -> Result<Vec<String>, String> {
    fields
        .iter()
        .filter_map(|(n, wire)| match wire {
            Wire::Bytes(bytes) if *n == number => Some(*bytes),
            _ => None,
        })
        .map(|bytes| {
            String::from_utf8(bytes.to_vec()).map_err(|_| format!("field {number} is not UTF-8"))
        })
        .collect()
}

/// Named string fields of a message, as a JSON object (empty ones left out).
pub(super) fn strings(bytes: &[u8], names: &[(u64, &str)]) -> Result<Value, String> {
    let fields = fields(bytes)?;
    let mut object = Map::new();
    for (number, name) in names {
        if let Some(value) = text(&fields, *number)?.filter(|v| !v.is_empty()) {
            object.insert((*name).to_string(), Value::String(value));
        }
    }
    Ok(Value::Object(object))
}

/// The last varint in field `number` as a boolean (`None`: not sent).
pub(super) fn flag(fields: &[(u64, Wire<'_>)], number: u64) -> Option<bool> {
    fields.iter().rev().find_map(|(n, wire)| match wire {
        Wire::Varint(value) if *n == number => Some(*value != 0),
        _ => None,
    })
}

/// A map field (`map<string, V>`: repeated entries of 1 key, 2 value) as a
/// JSON object, each value turned by `value` from its bytes.
pub(super) fn map(
    fields: &[(u64, Wire<'_>)],
    number: u64,
    value: impl Fn(&[u8]) -> Result<Value, String>,
) -> Result<Option<Value>, String> {
    let mut out = Map::new();
    for (n, wire) in fields {
        let Wire::Bytes(entry) = wire else { continue };
        if *n != number {
            continue;
        }
        let entry = self::fields(entry)?;
        let key = text(&entry, 1)?.unwrap_or_default();
        let bytes = message(&entry, 2).unwrap_or_default();
        out.insert(key, value(bytes)?);
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

/// A string field's bytes as JSON.
pub(super) fn utf8(bytes: &[u8]) -> Result<Value, String> {
    String::from_utf8(bytes.to_vec())
        .map(Value::String)
        .map_err(|_| "a value is not UTF-8".to_string())
}
