//! The one error type of the API and its mapping to a Kubernetes `Status`.
//!
//! Every failure a request can meet ends up as an [`ApiError`]; adapters map
//! their own errors into it, and [`ApiError::status`] is the only place that
//! decides the HTTP code and `reason`.

use serde::Serialize;
use serde_json::{json, Value};

/// One failing field of an `Invalid` error (`details.causes[]` in a Status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`, ...
    pub reason: String,
    pub message: String,
    /// The JSON path of the field, e.g. `spec.ownerRef.name`.
    pub field: String,
}

impl Cause {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            reason: "FieldValueInvalid".into(),
            message: message.into(),
            field: field.into(),
        }
    }
    pub fn required(field: impl Into<String>) -> Self {
        Self {
            reason: "FieldValueRequired".into(),
            message: "Required value".into(),
            field: field.into(),
        }
    }
    pub fn not_supported(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            reason: "FieldValueNotSupported".into(),
            message: message.into(),
            field: field.into(),
        }
    }
    pub fn forbidden(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            reason: "FieldValueForbidden".into(),
            message: message.into(),
            field: field.into(),
        }
    }
    pub fn too_long(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            reason: "FieldValueTooLong".into(),
            message: message.into(),
            field: field.into(),
        }
    }
}

/// What a request can fail with. The variants follow the Kubernetes reasons.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { message: String },
    #[error("{message}")]
    Unauthorized { message: String },
    #[error("{message}")]
    Forbidden { message: String },
    #[error("{kind} \"{name}\" not found")]
    NotFound {
        group: String,
        kind: String,
        name: String,
    },
    /// A path or resource type that this server does not serve.
    #[error("{message}")]
    PathNotFound { message: String },
    #[error("{message}")]
    MethodNotAllowed { message: String },
    #[error("{message}")]
    NotAcceptable { message: String },
    #[error("{kind} \"{name}\" already exists")]
    AlreadyExists {
        group: String,
        kind: String,
        name: String,
    },
    #[error("{message}")]
    Conflict {
        group: String,
        kind: String,
        name: String,
        message: String,
    },
    /// A server-side apply that would change fields other managers own
    /// (one cause per field, `FieldManagerConflict`).
    #[error("{message}")]
    FieldManagerConflict {
        group: String,
        kind: String,
        name: String,
        message: String,
        causes: Vec<Cause>,
    },
    #[error("{message}")]
    Gone { message: String },
    #[error("{message}")]
    RequestEntityTooLarge { message: String },
    #[error("{message}")]
    UnsupportedMediaType { message: String },
    #[error("{kind} \"{name}\" is invalid: {}", causes_summary(.causes))]
    Invalid {
        group: String,
        kind: String,
        name: String,
        causes: Vec<Cause>,
    },
    /// An admission policy refused the request: its reason and code are
    /// the policy's (`Invalid` 422 by default, `Forbidden` 403, ...), as
    /// Kubernetes returns them.
    #[error("{message}")]
    Denied {
        reason: crate::admission::Reason,
        message: String,
    },
    /// A write in the control plane of a suspended project (#18): 403
    /// Forbidden with a `ProjectSuspended` cause, as Milo's admission plugin.
    #[error("{kind} \"{name}\" is forbidden: project \"{project}\" is suspended; writes are refused until it is reinstated")]
    ProjectSuspended {
        group: String,
        kind: String,
        name: String,
        project: String,
    },
    /// A write refused for want of quota (#5): 403 Forbidden with the
    /// numbers. `object` names what was refused, for the Events the
    /// refusal records on each consumer (event_record.rs).
    #[error("{exceeded}")]
    QuotaExceeded {
        exceeded: crate::quota::QuotaExceeded,
        object: String,
    },
    #[error("{message}")]
    TooManyRequests { message: String },
    #[error("{message}")]
    Internal { message: String },
    #[error("{message}")]
    ServiceUnavailable { message: String },
    /// A watch from a position the server has not reached (Kubernetes:
    /// 504 Timeout "Too large resource version", which client-go answers
    /// with a new list).
    #[error("Too large resource version: {requested}, current: {current}")]
    TooLargeResourceVersion { requested: String, current: String },
}

fn causes_summary(causes: &[Cause]) -> String {
    causes
        .iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect::<Vec<_>>()
        .join(", ")
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
        }
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Unauthorized {
            message: message.into(),
        }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal {
            message: message.into(),
        }
    }
    pub fn path_not_found(message: impl Into<String>) -> Self {
        Self::PathNotFound {
            message: message.into(),
        }
    }
    pub fn not_found(group: &str, kind: &str, name: &str) -> Self {
        Self::NotFound {
            group: group.into(),
            kind: kind.into(),
            name: name.into(),
        }
    }
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        Self::Invalid {
            group: group.into(),
            kind: kind.into(),
            name: name.into(),
            causes,
        }
    }

    /// 409: `name` of `kind` (plural) in `group` cannot be written as asked
    /// now; `message` says what stands in the way.
    pub fn conflict(group: &str, kind: &str, name: &str, message: impl Into<String>) -> Self {
        Self::Conflict {
            group: group.into(),
            kind: kind.into(),
            name: name.into(),
            message: message.into(),
        }
    }

    /// HTTP status code and Kubernetes `reason`.
    pub fn code_and_reason(&self) -> (u16, &'static str) {
        match self {
            Self::BadRequest { .. } => (400, "BadRequest"),
            Self::Unauthorized { .. } => (401, "Unauthorized"),
            Self::Forbidden { .. } | Self::ProjectSuspended { .. } | Self::QuotaExceeded { .. } => {
                (403, "Forbidden")
            }
            Self::NotFound { .. } | Self::PathNotFound { .. } => (404, "NotFound"),
            Self::MethodNotAllowed { .. } => (405, "MethodNotAllowed"),
            Self::NotAcceptable { .. } => (406, "NotAcceptable"),
            Self::AlreadyExists { .. } => (409, "AlreadyExists"),
            Self::Conflict { .. } | Self::FieldManagerConflict { .. } => (409, "Conflict"),
            Self::Gone { .. } => (410, "Expired"),
            Self::RequestEntityTooLarge { .. } => (413, "RequestEntityTooLarge"),
            Self::UnsupportedMediaType { .. } => (415, "UnsupportedMediaType"),
            Self::Invalid { .. } => (422, "Invalid"),
            Self::Denied { reason, .. } => (reason.code(), reason.as_str()),
            Self::TooManyRequests { .. } => (429, "TooManyRequests"),
            Self::Internal { .. } => (500, "InternalError"),
            Self::ServiceUnavailable { .. } => (503, "ServiceUnavailable"),
            Self::TooLargeResourceVersion { .. } => (504, "Timeout"),
        }
    }

    /// The `meta.k8s.io/v1` `Status` object for this error.
    pub fn status(&self) -> Value {
        let (code, reason) = self.code_and_reason();
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": reason,
            "code": code,
        });
        let details = match self {
            Self::NotFound { group, kind, name }
            | Self::AlreadyExists { group, kind, name }
            | Self::Conflict {
                group, kind, name, ..
            } => Some(details(group, kind, name, &[])),
            Self::Invalid {
                group,
                kind,
                name,
                causes,
            }
            | Self::FieldManagerConflict {
                group,
                kind,
                name,
                causes,
                ..
            } => Some(details(group, kind, name, causes)),
            Self::ProjectSuspended {
                group, kind, name, ..
            } => Some(details(
                group,
                kind,
                name,
                &[Cause {
                    reason: crate::suspension::CAUSE_REASON.into(),
                    message: self.to_string(),
                    field: String::new(),
                }],
            )),
            _ => None,
        };
        if let Some(details) = details {
            status["details"] = details;
        }
        status
    }
}

fn details(group: &str, kind: &str, name: &str, causes: &[Cause]) -> Value {
    let mut d = json!({ "name": name, "group": group, "kind": kind_to_resource(kind) });
    if !causes.is_empty() {
        d["causes"] = serde_json::to_value(causes).unwrap_or(Value::Null);
    }
    d
}

/// Kubernetes puts the plural resource in `details.kind`; our kinds pluralise
/// regularly, and callers that know the plural pass it as `kind` already.
fn kind_to_resource(kind: &str) -> String {
    kind.to_string()
}

impl From<crate::admission::Denial> for ApiError {
    fn from(denial: crate::admission::Denial) -> Self {
        Self::Denied {
            reason: denial.reason,
            message: denial.message,
        }
    }
}

/// The `Status` of a successful delete.
pub fn success_status(group: &str, kind: &str, name: &str, uid: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": { "name": name, "group": group, "kind": kind, "uid": uid },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_carries_causes_and_422() {
        let e = ApiError::invalid(
            "resourcemanager.miloapis.com",
            "projects",
            "p",
            vec![Cause::required("spec.ownerRef.name")],
        );
        let s = e.status();
        assert_eq!(s["code"], 422);
        assert_eq!(s["reason"], "Invalid");
        assert_eq!(s["details"]["causes"][0]["field"], "spec.ownerRef.name");
        assert!(s["message"]
            .as_str()
            .unwrap()
            .contains("spec.ownerRef.name: Required value"));
    }

    #[test]
    fn conflict_and_already_exists_share_409_with_distinct_reasons() {
        let a = ApiError::AlreadyExists {
            group: "g".into(),
            kind: "k".into(),
            name: "n".into(),
        };
        let c = ApiError::Conflict {
            group: "g".into(),
            kind: "k".into(),
            name: "n".into(),
            message: "m".into(),
        };
        assert_eq!(a.code_and_reason(), (409, "AlreadyExists"));
        assert_eq!(c.code_and_reason(), (409, "Conflict"));
    }
}
