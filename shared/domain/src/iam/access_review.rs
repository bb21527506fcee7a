//! Kubernetes' review kinds, read and answered: SelfSubjectAccessReview
//! and SubjectAccessReview (`kubectl auth can-i`, a service's webhook),
//! SelfSubjectRulesReview (`kubectl auth can-i --list`) and
//! SelfSubjectReview (`kubectl auth whoami`). Nothing here decides; the
//! adapter asks the policy and fills the status in.

use serde_json::{json, Value};

/// What a review asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewRequest {
    /// May the subject (the caller, or the one named) do this?
    Access {
        /// `None`: the caller (a SelfSubjectAccessReview).
        subject: Option<(String, Vec<String>)>,
        attributes: ResourceAttributes,
    },
    /// What may the caller do in this namespace (or context)?
    Rules { namespace: Option<String> },
    /// Who is the caller?
    WhoAmI,
}

/// `spec.resourceAttributes`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceAttributes {
    pub namespace: Option<String>,
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: Option<String>,
    pub name: Option<String>,
}

/// Reads a review of `kind` (the plural its path names). Errors name the
/// field and what is wrong.
pub fn parse(plural: &str, body: &Value) -> Result<ReviewRequest, String> {
    let spec = &body["spec"];
    match plural {
        "selfsubjectreviews" => Ok(ReviewRequest::WhoAmI),
        "selfsubjectrulesreviews" => Ok(ReviewRequest::Rules {
            namespace: text(&spec["namespace"]),
        }),
        "selfsubjectaccessreviews" => Ok(ReviewRequest::Access {
            subject: None,
            attributes: attributes(spec)?,
        }),
        "subjectaccessreviews" | "localsubjectaccessreviews" => {
            let user = text(&spec["user"]);
            let groups: Vec<String> = spec["groups"]
                .as_array()
                .map(|g| {
                    g.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if user.is_none() && groups.is_empty() {
                return Err("spec.user: a user or at least one group is required".into());
            }
            Ok(ReviewRequest::Access {
                subject: Some((user.unwrap_or_default(), groups)),
                attributes: attributes(spec)?,
            })
        }
        other => Err(format!("{other} is not a review kind")),
    }
}

fn attributes(spec: &Value) -> Result<ResourceAttributes, String> {
    if spec
        .get("nonResourceAttributes")
        .is_some_and(|v| !v.is_null())
    {
        return Err("spec.nonResourceAttributes: non-resource URLs are not authorized separately here (every path is a resource or public discovery); ask with spec.resourceAttributes".into());
    }
    let attrs = &spec["resourceAttributes"];
    if !attrs.is_object() {
        return Err("spec.resourceAttributes: required".into());
    }
    let verb = text(&attrs["verb"]).ok_or("spec.resourceAttributes.verb: required")?;
    let resource = text(&attrs["resource"]).ok_or("spec.resourceAttributes.resource: required")?;
    Ok(ResourceAttributes {
        namespace: text(&attrs["namespace"]),
        verb,
        group: text(&attrs["group"]).unwrap_or_default(),
        resource,
        subresource: text(&attrs["subresource"]),
        name: text(&attrs["name"]),
    })
}

fn text(value: &Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// The review as sent, with its status: what Kubernetes answers (201).
pub fn answered(api_version: &str, kind: &str, body: &Value, status: Value) -> Value {
    let mut answer = json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"creationTimestamp": null},
        "spec": body.get("spec").cloned().unwrap_or_else(|| json!({})),
        "status": status,
    });
    if kind == "SelfSubjectReview" {
        answer.as_object_mut().map(|o| o.remove("spec"));
    }
    answer
}

/// An access review's status.
pub fn access_status(allowed: bool, reason: &str) -> Value {
    json!({"allowed": allowed, "denied": !allowed, "reason": reason})
}

/// A rules review's status.
pub fn rules_status(rules: Vec<Value>) -> Value {
    json!({"resourceRules": rules, "nonResourceRules": [], "incomplete": false})
}

/// A whoami's status.
pub fn user_info(user: &str, groups: &[String]) -> Value {
    json!({"userInfo": {"username": user, "groups": groups}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_subject_access_review_reads_its_resource_attributes() {
        let body = json!({"spec": {"resourceAttributes": {
            "namespace": "default", "verb": "delete", "group": "resourcemanager.miloapis.com",
            "resource": "projects", "name": "p1"}}});
        let ReviewRequest::Access {
            subject,
            attributes,
        } = parse("selfsubjectaccessreviews", &body).unwrap()
        else {
            panic!("an access review");
        };
        assert_eq!(subject, None);
        assert_eq!(attributes.verb, "delete");
        assert_eq!(attributes.name.as_deref(), Some("p1"));
        assert_eq!(attributes.namespace.as_deref(), Some("default"));
    }

    #[test]
    fn a_subject_access_review_names_who_is_asked_about() {
        let body = json!({"spec": {"user": "alice", "groups": ["devs"],
            "resourceAttributes": {"verb": "get", "resource": "configmaps"}}});
        let ReviewRequest::Access { subject, .. } = parse("subjectaccessreviews", &body).unwrap()
        else {
            panic!("an access review");
        };
        assert_eq!(subject, Some(("alice".into(), vec!["devs".into()])));
    }

    #[test]
    fn bad_reviews_say_which_field() {
        let no_attrs = parse("selfsubjectaccessreviews", &json!({"spec": {}})).unwrap_err();
        assert!(
            no_attrs.starts_with("spec.resourceAttributes"),
            "{no_attrs}"
        );
        let no_verb = parse(
            "selfsubjectaccessreviews",
            &json!({"spec": {"resourceAttributes": {"resource": "x"}}}),
        )
        .unwrap_err();
        assert!(no_verb.contains(".verb"), "{no_verb}");
        let nobody = parse(
            "subjectaccessreviews",
            &json!({"spec": {"resourceAttributes": {"verb": "get", "resource": "x"}}}),
        )
        .unwrap_err();
        assert!(nobody.starts_with("spec.user"), "{nobody}");
    }

    #[test]
    fn a_whoami_answer_has_no_spec() {
        let answer = answered(
            "authentication.k8s.io/v1",
            "SelfSubjectReview",
            &json!({}),
            user_info("u", &["g".into()]),
        );
        assert!(answer.get("spec").is_none());
        assert_eq!(answer["status"]["userInfo"]["username"], "u");
    }
}
