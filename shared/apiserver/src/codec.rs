//! Request bodies in, responses out: JSON or YAML decoding, patch media
//! types, content negotiation and the query string.

use domain::request_options::{self, PropagationPolicy};
use domain::ApiError;
use percent_encoding::percent_decode_str;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Largest body accepted: an object must fit in one 400 KB table item.
pub const MAX_BODY_BYTES: usize = 400 * 1024;

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// A body that goes on after `body` as it is produced (a watch's
    /// events); None for every other answer.
    pub stream: Option<BodyStream>,
}

/// The chunks of a body sent as they come.
pub type BodyStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = bytes::Bytes> + Send + Sync>>;

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .field("stream", &self.stream.is_some())
            .finish()
    }
}

impl Response {
    pub fn json(status: u16, value: &Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(value).unwrap_or_default(),
            stream: None,
        }
    }

    /// A 200 whose body is `stream` (a watch: JSON lines).
    pub fn streaming(content_type: &str, stream: BodyStream) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            body: Vec::new(),
            stream: Some(stream),
        }
    }

    pub fn error(err: &ApiError) -> Self {
        Self::json(err.code_and_reason().0, &err.status())
    }

    pub fn with_warnings(mut self, warnings: &[String]) -> Self {
        for w in warnings {
            self.headers.push((
                "warning".into(),
                format!("299 - \"{}\"", w.replace('"', "'")),
            ));
        }
        self
    }
}

fn media_type(content_type: Option<&str>) -> String {
    content_type
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn check_size(body: &[u8]) -> Result<(), ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::RequestEntityTooLarge {
            message: format!(
                "the request body is {} bytes; objects are limited to {MAX_BODY_BYTES} bytes",
                body.len()
            ),
        });
    }
    Ok(())
}

/// A decoded body, and the fields it names more than once (as paths such
/// as `spec.type`): the last occurrence is kept, as Kubernetes keeps it,
/// and `fieldValidation` decides whether naming one twice is an error.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub value: Value,
    pub duplicates: Vec<String>,
}

/// Decodes an object body sent as JSON or YAML.
pub fn decode_object(content_type: Option<&str>, body: &[u8]) -> Result<Decoded, ApiError> {
    check_size(body)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty; send the object as JSON or YAML",
        ));
    }
    match media_type(content_type).as_str() {
        "application/json" | "" | "*/*" => decode_json(body),
        "application/yaml" | "application/x-yaml" | "text/yaml" => decode_yaml(body),
        // kubectl sends its access reviews and its created core kinds so.
        "application/vnd.kubernetes.protobuf" => domain::protobuf::decode(body)
            .map(|value| Decoded {
                value,
                duplicates: Vec::new(),
            })
            .map_err(|message| ApiError::UnsupportedMediaType {
                message: format!("the protobuf body cannot be read: {message}"),
            }),
        other => Err(ApiError::UnsupportedMediaType {
            message: format!("the body's content type {other:?} is not supported; use application/json or application/yaml"),
        }),
    }
}

fn decode_json(body: &[u8]) -> Result<Decoded, ApiError> {
    let invalid = |e: serde_json::Error| {
        ApiError::bad_request(format!("the request body is not valid JSON: {e}"))
    };
    let mut finder = DuplicateFinder::default();
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = Tracked(&mut finder)
        .deserialize(&mut deserializer)
        .map_err(invalid)?;
    deserializer.end().map_err(invalid)?;
    Ok(finder.decoded(value))
}

fn decode_yaml(body: &[u8]) -> Result<Decoded, ApiError> {
    let mut finder = DuplicateFinder::default();
    let value = Tracked(&mut finder)
        .deserialize(serde_yaml::Deserializer::from_slice(body))
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid YAML: {e}")))?;
    Ok(finder.decoded(value))
}

/// Where the decoder is in the document, and the duplicates seen so far.
#[derive(Default)]
struct DuplicateFinder {
    path: Vec<Step>,
    duplicates: Vec<String>,
}

enum Step {
    Field(String),
    Item(usize),
}

impl DuplicateFinder {
    fn decoded(self, value: Value) -> Decoded {
        Decoded {
            value,
            duplicates: self.duplicates,
        }
    }

    fn found(&mut self, field: &str) {
        let mut path = String::new();
        for step in &self.path {
            match step {
                Step::Field(name) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(name);
                }
                Step::Item(index) => path.push_str(&format!("[{index}]")),
            }
        }
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(field);
        self.duplicates.push(path);
    }
}

/// Builds the same `Value` serde_json would, from JSON or YAML, noting
/// every field named twice in one object on the way.
struct Tracked<'f>(&'f mut DuplicateFinder);

impl<'de> DeserializeSeed<'de> for Tracked<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Tracked<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON or YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let finder = self.0;
        let mut items = Vec::new();
        loop {
            finder.path.push(Step::Item(items.len()));
            let item = seq.next_element_seed(Tracked(&mut *finder));
            finder.path.pop();
            match item? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let finder = self.0;
        let mut fields = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // The key lends itself to the path while its value is read, and
            // is taken back after: no copy of every key of every body.
            finder.path.push(Step::Field(key));
            let value = map.next_value_seed(Tracked(&mut *finder));
            let Some(Step::Field(key)) = finder.path.pop() else {
                unreachable!("the step pushed above is the last one")
            };
            let value = value?;
            if fields.contains_key(&key) {
                finder.found(&key);
            }
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
}

/// A PATCH body: a patch of the stored document, or a server-side apply's
/// configuration (JSON or YAML).
pub enum PatchBody {
    Document(PatchKind, Decoded),
    Apply(Decoded),
}

/// Whether a PATCH with this Content-Type is a server-side apply.
pub fn is_apply(content_type: Option<&str>) -> bool {
    matches!(
        media_type(content_type).as_str(),
        "application/apply-patch+yaml" | "application/apply-patch+json"
    )
}

/// The patch body and its kind, from the Content-Type.
pub fn decode_patch(content_type: Option<&str>, body: &[u8]) -> Result<PatchBody, ApiError> {
    check_size(body)?;
    if is_apply(content_type) {
        return Ok(PatchBody::Apply(decode_yaml(body)?));
    }
    let kind = match media_type(content_type).as_str() {
        "application/merge-patch+json" => PatchKind::Merge,
        // Our kinds have no list merge keys, so a strategic merge patch means
        // the same as a merge patch.
        "application/strategic-merge-patch+json" => PatchKind::Merge,
        "application/json-patch+json" => PatchKind::Json,
        other => {
            return Err(ApiError::UnsupportedMediaType {
                message: format!(
                    "patch content type {other:?} is not supported; use application/merge-patch+json, application/json-patch+json or application/apply-patch+yaml"
                ),
            })
        }
    };
    Ok(PatchBody::Document(kind, decode_json(body)?))
}

/// Whether the client asked for a `meta.k8s.io` Table (`kubectl get`).
pub fn wants_table(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',')
            .next()
            .is_some_and(|first| first.contains("as=Table"))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

/// The query parameters the API reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    pub label_selector: String,
    pub field_selector: String,
    pub limit: Option<i32>,
    pub continue_token: Option<String>,
    pub dry_run: bool,
    pub field_validation: FieldValidation,
    pub watch: bool,
    /// A DELETE's options when it has no body.
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<PropagationPolicy>,
    pub orphan_dependents: Option<bool>,
    /// Who the write's fields are recorded as (server-side apply).
    pub field_manager: Option<String>,
    /// An apply's `force`: take the fields other managers own.
    pub force: bool,
    /// Parameters only some endpoints read (the graph's `urn`, `depth`, ...)
    /// and those no endpoint reads: Kubernetes ignores a parameter it does
    /// not know, and so does this server (ARCHITECTURE.md, Decisions).
    pub extra: std::collections::BTreeMap<String, String>,
}

fn decode_component(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut q = Query::default();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode_component(value);
            match decode_component(key).as_str() {
                "labelSelector" => q.label_selector = value,
                "fieldSelector" => q.field_selector = value,
                "limit" => {
                    let limit: i64 = value.parse().map_err(|_| {
                        ApiError::bad_request(format!(
                            "limit must be a whole number, not {value:?}"
                        ))
                    })?;
                    q.limit = (limit > 0).then(|| limit.min(i64::from(i32::MAX)) as i32);
                }
                "continue" if !value.is_empty() => q.continue_token = Some(value),
                "dryRun" => match value.as_str() {
                    "All" => q.dry_run = true,
                    "" => {}
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "dryRun must be \"All\", not {other:?}"
                        )))
                    }
                },
                "fieldValidation" => {
                    q.field_validation = match value.as_str() {
                        "Strict" => FieldValidation::Strict,
                        "Warn" | "" => FieldValidation::Warn,
                        "Ignore" => FieldValidation::Ignore,
                        other => {
                            return Err(ApiError::bad_request(format!(
                                "fieldValidation must be Strict, Warn or Ignore, not {other:?}"
                            )))
                        }
                    }
                }
                // As Kubernetes reads it: Python clients send "True".
                "watch" => q.watch = request_options::query_bool(&value),
                "gracePeriodSeconds" if !value.is_empty() => {
                    q.grace_period_seconds = Some(
                        request_options::query_int("gracePeriodSeconds", &value)
                            .map_err(ApiError::bad_request)?,
                    );
                }
                "propagationPolicy" if !value.is_empty() => {
                    q.propagation_policy = Some(value.parse().map_err(ApiError::bad_request)?);
                }
                "orphanDependents" => {
                    q.orphan_dependents = Some(request_options::query_bool(&value));
                }
                "fieldManager" if !value.is_empty() => {
                    request_options::check_field_manager(&value).map_err(ApiError::bad_request)?;
                    q.field_manager = Some(value);
                }
                "force" => q.force = request_options::query_bool(&value),
                other => {
                    check_unread(other, &value)?;
                    q.extra.insert(other.to_string(), value);
                }
            }
        }
        request_options::check_propagation(q.propagation_policy, q.orphan_dependents)
            .map_err(ApiError::bad_request)?;
        Ok(q)
    }
}

/// The parameters Kubernetes defines that no endpoint here reads: a value
/// Kubernetes would refuse is refused (400) rather than ignored, as the
/// request may mean something else than what it would do here.
fn check_unread(name: &str, value: &str) -> Result<(), ApiError> {
    let checked = match name {
        "timeoutSeconds" if !value.is_empty() => {
            request_options::query_int(name, value).map(|_| ())
        }
        "timeout" if !value.is_empty() => request_options::check_timeout(value),
        "resourceVersionMatch" => request_options::check_resource_version_match(value),
        _ => Ok(()),
    };
    checked.map_err(ApiError::bad_request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decodes_selectors_and_flags() {
        let q = Query::parse(Some(
            "labelSelector=env%20in%20(a%2Cb)&limit=5&dryRun=All&fieldValidation=Strict",
        ))
        .unwrap();
        assert_eq!(q.label_selector, "env in (a,b)");
        assert_eq!(q.limit, Some(5));
        assert!(q.dry_run);
        assert_eq!(q.field_validation, FieldValidation::Strict);
        assert!(Query::parse(Some("limit=abc")).is_err());
        assert!(Query::parse(Some("dryRun=Some")).is_err());
        // Booleans as Kubernetes reads them: the Python client sends "True".
        for (raw, watch) in [
            ("watch=True", true),
            ("watch=1", true),
            ("watch=false", false),
            ("watch=0", false),
        ] {
            assert_eq!(Query::parse(Some(raw)).unwrap().watch, watch, "{raw}");
        }
    }

    #[test]
    fn yaml_and_json_bodies_decode_and_junk_is_400() {
        assert_eq!(
            decode_object(Some("application/yaml"), b"a: 1\n")
                .unwrap()
                .value["a"],
            1
        );
        assert_eq!(decode_object(None, b"{\"a\":1}").unwrap().value["a"], 1);
        assert_eq!(
            decode_object(None, b"{\"a\":")
                .unwrap_err()
                .code_and_reason()
                .0,
            400
        );
        assert_eq!(
            decode_object(Some("application/yaml"), b"a: [1")
                .unwrap_err()
                .code_and_reason()
                .0,
            400
        );
        assert_eq!(
            decode_object(Some("text/plain"), b"x")
                .unwrap_err()
                .code_and_reason()
                .0,
            415
        );
    }

    #[test]
    fn fields_named_twice_are_found_with_their_paths() {
        let json = br#"{"a":1,"spec":{"x":1,"list":[{"k":1,"k":2},{"k":3}],"x":{"y":2}},"a":3}"#;
        let decoded = decode_object(None, json).unwrap();
        assert_eq!(decoded.duplicates, ["spec.list[0].k", "spec.x", "a"]);
        // As serde_json decodes: the last occurrence, in the first's place.
        assert_eq!(
            decoded.value,
            serde_json::from_slice::<Value>(json).unwrap()
        );
        let yaml = b"a: 1\nspec:\n  x: 1\n  list:\n  - k: 1\n    k: 2\n  x:\n    y: 2\n";
        let decoded = decode_object(Some("application/yaml"), yaml).unwrap();
        assert_eq!(decoded.duplicates, ["spec.list[0].k", "spec.x"]);
        assert_eq!(decoded.value["spec"]["x"]["y"], 2);
        assert_eq!(decoded.value["spec"]["list"][0]["k"], 2);
        let PatchBody::Document(_, patch) = decode_patch(
            Some("application/json-patch+json"),
            br#"[{"op":"add","op":"replace","path":"/a","value":1}]"#,
        )
        .unwrap() else {
            panic!("a JSON patch is a patch of the document");
        };
        assert_eq!(patch.duplicates, ["[0].op"]);
        assert!(decode_object(None, br#"{"a":1}"#)
            .unwrap()
            .duplicates
            .is_empty());
    }

    #[test]
    fn values_decode_as_serde_json_decodes_them() {
        let json = br#"{"n":null,"b":true,"i":-3,"u":18446744073709551615,"f":1.5,"s":"\u00e9","l":[[]],"o":{}}"#;
        assert_eq!(
            decode_object(None, json).unwrap().value,
            serde_json::from_slice::<Value>(json).unwrap()
        );
        let yaml = b"n: ~\nb: yes\ni: -3\nf: .inf\ns: 'x'\nl: []\n";
        assert_eq!(
            decode_object(Some("application/yaml"), yaml).unwrap().value,
            serde_yaml::from_slice::<Value>(yaml).unwrap()
        );
        for junk in [&b"{\"a\":1} x"[..], b"{\"a\":1}{}", b"[1,]"] {
            assert!(decode_object(None, junk).is_err(), "{junk:?}");
        }
        assert!(decode_object(Some("application/yaml"), b"a: 1\n---\nb: 2\n").is_err());
    }

    #[test]
    fn known_parameters_with_bad_values_are_400_and_unknown_ones_are_kept() {
        for bad in [
            "gracePeriodSeconds=x",
            "propagationPolicy=Bogus",
            "propagationPolicy=Orphan&orphanDependents=false",
            "timeoutSeconds=1.5",
            "timeout=5",
            "resourceVersionMatch=Latest",
            "fieldManager=a%0Ab",
            "dryRun=Some",
            "limit=abc",
            "fieldValidation=strict",
        ] {
            let err = Query::parse(Some(bad)).unwrap_err();
            assert_eq!(err.code_and_reason().0, 400, "{bad}");
        }
        let q = Query::parse(Some(
            "gracePeriodSeconds=0&propagationPolicy=Foreground&timeout=32s&timeoutSeconds=5&resourceVersionMatch=Exact&fieldManager=kubectl&pretty=true&allowWatchBookmarks=1&future=x",
        ))
        .unwrap();
        assert_eq!(q.grace_period_seconds, Some(0));
        assert_eq!(q.propagation_policy, Some(PropagationPolicy::Foreground));
        assert_eq!(q.extra["future"], "x");
        let q = Query::parse(Some("orphanDependents=false&gracePeriodSeconds=")).unwrap();
        assert_eq!(q.orphan_dependents, Some(false));
        assert_eq!(q.grace_period_seconds, None);
    }

    #[test]
    fn oversized_body_is_413() {
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(
            decode_object(None, &big).unwrap_err().code_and_reason().0,
            413
        );
    }

    #[test]
    fn table_is_negotiated_from_accept() {
        assert!(wants_table(Some(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        )));
        assert!(!wants_table(Some("application/json")));
    }
}
