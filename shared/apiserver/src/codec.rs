//! Request bodies in, responses out: JSON or YAML decoding, patch media
//! types, content negotiation and the query string.

use domain::ApiError;
use percent_encoding::percent_decode_str;
use serde_json::Value;

/// Largest body accepted: an object must fit in one 400 KB table item.
pub const MAX_BODY_BYTES: usize = 400 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, value: &Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(value).unwrap_or_default(),
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

/// Decodes an object body sent as JSON or YAML.
pub fn decode_object(content_type: Option<&str>, body: &[u8]) -> Result<Value, ApiError> {
    check_size(body)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty; send the object as JSON or YAML",
        ));
    }
    match media_type(content_type).as_str() {
        "application/json" | "" | "*/*" => decode_json(body),
        "application/yaml" | "application/x-yaml" | "text/yaml" => decode_yaml(body),
        other => Err(ApiError::UnsupportedMediaType {
            message: format!("the body's content type {other:?} is not supported; use application/json or application/yaml"),
        }),
    }
}

fn decode_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}

fn decode_yaml(body: &[u8]) -> Result<Value, ApiError> {
    serde_yaml::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid YAML: {e}")))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
}

/// The patch body and its kind, from the Content-Type.
pub fn decode_patch(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(PatchKind, Value), ApiError> {
    check_size(body)?;
    let kind = match media_type(content_type).as_str() {
        "application/merge-patch+json" => PatchKind::Merge,
        // Our kinds have no list merge keys, so a strategic merge patch means
        // the same as a merge patch.
        "application/strategic-merge-patch+json" => PatchKind::Merge,
        "application/json-patch+json" => PatchKind::Json,
        other => {
            return Err(ApiError::UnsupportedMediaType {
                message: format!(
                    "patch content type {other:?} is not supported; use application/merge-patch+json or application/json-patch+json"
                ),
            })
        }
    };
    Ok((kind, decode_json(body)?))
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
    /// Parameters only some endpoints read (the graph's `urn`, `depth`, ...).
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
                "watch" => q.watch = matches!(value.as_str(), "true" | "1"),
                other => {
                    q.extra.insert(other.to_string(), value);
                }
            }
        }
        Ok(q)
    }
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
    }

    #[test]
    fn yaml_and_json_bodies_decode_and_junk_is_400() {
        assert_eq!(
            decode_object(Some("application/yaml"), b"a: 1\n").unwrap()["a"],
            1
        );
        assert_eq!(decode_object(None, b"{\"a\":1}").unwrap()["a"], 1);
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
