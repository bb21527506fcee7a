//! Bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`),
//! read into the JSON document the rest of the pipeline reads. kubectl
//! sends it for the kinds compiled into it: the access reviews
//! (`kubectl auth can-i`, `whoami`; reviews.rs) and the core kinds its
//! create commands make (core.rs). Only those kinds are read this way;
//! every other body is JSON or YAML. The answer is JSON, which such a
//! client also accepts.
//!
//! The encoding: the magic `k8s\0`, then a `runtime.Unknown` message
//! (1: TypeMeta {1: apiVersion, 2: kind}, 2: the object's bytes), the
//! object a message of 1: metadata, then its kind's fields (a review's
//! 2: spec).

mod core;
mod reviews;
mod wire;

use serde_json::{json, Value};

use wire::{fields, message, text};

const MAGIC: &[u8] = b"k8s\0";

/// A body sent as protobuf, as the JSON document it stands for; an error
/// says what could not be read (a 400), or that the kind is not one read
/// from protobuf (which is sent as JSON or YAML).
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
    if let Some(spec) = reviews::spec(&kind, &spec) {
        return Ok(json!({"apiVersion": api_version, "kind": kind, "spec": spec?}));
    }
    let Some(body) = core::body(&kind, &object) else {
        return Err(format!(
            "{kind:?} is not read from protobuf (only the access reviews, Namespace, ConfigMap and Secret are); send it as JSON or YAML"
        ));
    };
    let mut doc = body?;
    doc.insert("apiVersion".into(), Value::String(api_version));
    doc.insert("kind".into(), Value::String(kind));
    let metadata = core::metadata(message(&object, 1).unwrap_or_default())?;
    doc.insert("metadata".into(), metadata);
    Ok(Value::Object(doc))
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

    /// A varint field.
    fn number(number: u64, value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for mut value in [number << 3, value] {
            loop {
                let byte = (value & 0x7f) as u8;
                value >>= 7;
                if value == 0 {
                    out.push(byte);
                    break;
                }
                out.push(byte | 0x80);
            }
        }
        out
    }

    fn wrapped(api_version: &str, kind: &str, object: Vec<u8>) -> Vec<u8> {
        let type_meta = [field(1, api_version.as_bytes()), field(2, kind.as_bytes())].concat();
        [MAGIC.to_vec(), field(1, &type_meta), field(2, &object)].concat()
    }

    fn envelope(kind: &str, spec: Vec<u8>) -> Vec<u8> {
        let object = [field(1, &[]), field(2, &spec)].concat();
        wrapped("authorization.k8s.io/v1", kind, object)
    }

    fn entry(key: &str, value: &[u8]) -> Vec<u8> {
        [field(1, key.as_bytes()), field(2, value)].concat()
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
    fn kubectl_create_namespace_reads_as_its_json() {
        let metadata = [
            field(1, b"team-a"),
            field(11, &entry("env", b"prod")),
            field(11, &entry("tier", b"web")),
        ]
        .concat();
        let body = wrapped(
            "v1",
            "Namespace",
            [field(1, &metadata), field(2, &[])].concat(),
        );
        assert_eq!(
            decode(&body).unwrap(),
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": "team-a", "labels": {"env": "prod", "tier": "web"}}})
        );
    }

    #[test]
    fn a_config_map_and_a_secret_keep_their_data_bytes_as_base64() {
        let config = [
            field(1, &[field(1, b"settings"), field(3, b"default")].concat()),
            field(2, &entry("mode", b"fast")),
            field(3, &entry("blob", &[0, 159, 146, 150])),
            number(4, 1),
        ]
        .concat();
        let decoded = decode(&wrapped("v1", "ConfigMap", config)).unwrap();
        assert_eq!(decoded["metadata"]["namespace"], "default");
        assert_eq!(decoded["data"], json!({"mode": "fast"}));
        assert_eq!(decoded["binaryData"], json!({"blob": "AJ+Slg=="}));
        assert_eq!(decoded["immutable"], true);
        let secret = [
            field(1, &field(1, b"token")),
            field(2, &entry("password", b"s3cret")),
            field(3, b"Opaque"),
        ]
        .concat();
        let decoded = decode(&wrapped("v1", "Secret", secret)).unwrap();
        assert_eq!(decoded["data"], json!({"password": "czNjcmV0"}));
        assert_eq!(decoded["type"], "Opaque");
        assert_eq!(decoded["metadata"], json!({"name": "token"}));
    }

    #[test]
    fn what_is_not_read_from_protobuf_or_not_protobuf_is_refused_saying_why() {
        assert!(decode(b"{}").unwrap_err().contains("k8s"));
        let other = decode(&envelope("Project", Vec::new())).unwrap_err();
        assert!(other.contains("send it as JSON"), "{other}");
        let cut = &envelope("SelfSubjectAccessReview", field(1, &field(2, b"get")))[..20];
        assert!(decode(cut).is_err());
    }
}
