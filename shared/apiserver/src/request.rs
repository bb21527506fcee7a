//! What a request asks, described once at the top of the pipeline: the
//! verb, the context, the resource it names and who asks, when. This is
//! what authorization, admission, audit and events read. It holds no HTTP
//! part, so a background worker describes the work it does the same way.

use chrono::{DateTime, SecondsFormat, Utc};
use http::Method;
use store::Context;

use crate::route::{ResourcePath, Target};

/// Kubernetes' verbs, as authorization names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
    /// A method no API serves (answered 405).
    Unsupported,
}

impl Verb {
    /// The verb of an HTTP method on a path that names an object (`named`)
    /// or a collection.
    pub fn of(method: &Method, named: bool, watch: bool) -> Verb {
        match (method, named) {
            (&Method::GET | &Method::HEAD, true) => Verb::Get,
            (&Method::GET | &Method::HEAD, false) if watch => Verb::Watch,
            (&Method::GET | &Method::HEAD, false) => Verb::List,
            (&Method::POST, _) => Verb::Create,
            (&Method::PUT, _) => Verb::Update,
            (&Method::PATCH, _) => Verb::Patch,
            (&Method::DELETE, true) => Verb::Delete,
            (&Method::DELETE, false) => Verb::DeleteCollection,
            _ => Verb::Unsupported,
        }
    }

    /// The verb Kubernetes spells `name` (an access review's); a verb no
    /// HTTP method maps to (`use`, `bind`) is `Unsupported`.
    pub fn named(name: &str) -> Verb {
        [
            Verb::Get,
            Verb::List,
            Verb::Watch,
            Verb::Create,
            Verb::Update,
            Verb::Patch,
            Verb::Delete,
            Verb::DeleteCollection,
        ]
        .into_iter()
        .find(|v| v.as_str() == name)
        .unwrap_or(Verb::Unsupported)
    }

    /// The verb as Kubernetes (and Milo's permission names) spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
            Verb::Unsupported => "unsupported",
        }
    }

    /// Whether the verb changes what is stored.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Verb::Create | Verb::Update | Verb::Patch | Verb::Delete | Verb::DeleteCollection
        )
    }
}

/// One request, described.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub verb: Verb,
    pub context: Context,
    /// The resource the path names: group, version, resource (plural),
    /// subresource, namespace, name. `None` for a document (discovery,
    /// OpenAPI, the version) or a function's own path.
    pub resource: Option<ResourcePath>,
    pub principal: auth::Principal,
    /// `x-request-id`, the Lambda request id, or a new one: the admission
    /// request's uid, and on every log line.
    pub id: String,
    pub time: DateTime<Utc>,
    /// Who a write's fields are recorded as.
    pub writer: FieldWriter,
}

/// Who a write's fields are recorded as (`metadata.managedFields`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldWriter {
    /// The `fieldManager` parameter, else the User-Agent's program (what
    /// comes before its first `/`), as Kubernetes names a manager.
    pub manager: String,
    /// Whether the write is a server-side apply, which records its own.
    pub applies: bool,
}

impl FieldWriter {
    pub fn of(field_manager: Option<&str>, user_agent: Option<&str>, applies: bool) -> FieldWriter {
        let program = user_agent
            .and_then(|agent| agent.split('/').next())
            .map(|program| program.chars().take(128).collect::<String>())
            .filter(|program| !program.trim().is_empty());
        FieldWriter {
            manager: field_manager
                .map(str::to_string)
                .or(program)
                .unwrap_or_else(|| "unknown".into()),
            applies,
        }
    }
}

impl RequestInfo {
    /// Describes a request to the resources API.
    pub fn describe(
        method: &Method,
        context: &Context,
        target: &Target,
        watch: bool,
        principal: auth::Principal,
        request_id: &str,
    ) -> RequestInfo {
        let resource = match target {
            Target::Resource(resource) => Some(resource.clone()),
            _ => None,
        };
        let named = resource.as_ref().is_some_and(|r| r.name.is_some());
        RequestInfo {
            verb: Verb::of(method, named || resource.is_none(), watch),
            context: context.clone(),
            resource,
            principal,
            id: request_id.to_string(),
            time: Utc::now(),
            writer: FieldWriter::default(),
        }
    }

    /// Describes a request to a path of a function's own (the admission
    /// function's `/review` and `/audit`): no resource, in the platform.
    pub fn of_function_path(
        method: &Method,
        principal: auth::Principal,
        request_id: &str,
    ) -> RequestInfo {
        RequestInfo {
            verb: Verb::of(method, true, false),
            context: Context::Platform,
            resource: None,
            principal,
            id: request_id.to_string(),
            time: Utc::now(),
            writer: FieldWriter::default(),
        }
    }

    /// The request's time as objects record it (RFC 3339, seconds).
    pub fn timestamp(&self) -> String {
        self.time.to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> auth::Principal {
        auth::Principal {
            subject: "alice".into(),
            groups: vec!["team".into()],
            issuer: "test".into(),
            email: None,
        }
    }

    fn resource(name: Option<&str>) -> Target {
        Target::Resource(ResourcePath {
            group: "resourcemanager.miloapis.com".into(),
            version: "v1alpha1".into(),
            plural: "projects".into(),
            namespace: None,
            name: name.map(str::to_string),
            subresource: None,
        })
    }

    #[test]
    fn the_verb_follows_the_method_and_whether_the_path_names_an_object() {
        let describe = |method: &Method, target: &Target, watch: bool| {
            RequestInfo::describe(method, &Context::Platform, target, watch, principal(), "r").verb
        };
        let one = resource(Some("p1"));
        let all = resource(None);
        assert_eq!(describe(&Method::GET, &one, false), Verb::Get);
        assert_eq!(describe(&Method::GET, &all, false), Verb::List);
        assert_eq!(describe(&Method::GET, &all, true), Verb::Watch);
        assert_eq!(describe(&Method::POST, &all, false), Verb::Create);
        assert_eq!(describe(&Method::PUT, &one, false), Verb::Update);
        assert_eq!(describe(&Method::PATCH, &one, false), Verb::Patch);
        assert_eq!(describe(&Method::DELETE, &one, false), Verb::Delete);
        assert_eq!(
            describe(&Method::DELETE, &all, false),
            Verb::DeleteCollection
        );
        assert_eq!(describe(&Method::OPTIONS, &one, false), Verb::Unsupported);
        // A document is read with get.
        assert_eq!(describe(&Method::GET, &Target::Groups, false), Verb::Get);
        assert!(Verb::Patch.writes() && !Verb::Watch.writes());
    }

    #[test]
    fn the_description_carries_the_resource_and_who_asks() {
        let info = RequestInfo::describe(
            &Method::DELETE,
            &Context::Organization("acme".into()),
            &resource(Some("p1")),
            false,
            principal(),
            "req-1",
        );
        let path = info.resource.as_ref().expect("a resource path");
        assert_eq!(
            (path.plural.as_str(), path.name.as_deref()),
            ("projects", Some("p1"))
        );
        assert_eq!(info.context, Context::Organization("acme".into()));
        assert_eq!(info.principal.subject, "alice");
        assert_eq!(info.id, "req-1");
        assert_eq!(info.verb.as_str(), "delete");
        assert!(info.timestamp().ends_with('Z'));
    }
}
