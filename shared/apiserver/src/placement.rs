//! Where an object of a kind is stored, and from which contexts it is
//! seen: hierarchy objects are stored once, in the platform context, and
//! seen from their organization's; every other object lives in the context
//! it was created in. A leaf: the verbs, the list, quota and the readers of
//! the hierarchy all ask it, and it asks none of them.

use std::collections::BTreeMap;

use domain::hierarchy::{self, ParentRef};
use domain::kinds::{self, KindId, KindInfo, ORGANIZATION_LABEL};
use domain::ApiError;
use serde_json::Value;
use store::{Context, ObjectRef, Stored};

/// Hierarchy objects live in the platform context whichever context serves
/// them (an organization's context is a filtered view of them); every other
/// object lives in the context it was created in.
pub fn object_ref(context: &Context, kind: &KindInfo, namespace: &str, name: &str) -> ObjectRef {
    let context = if is_hierarchy(kind) {
        Context::Platform
    } else {
        context.clone()
    };
    ObjectRef {
        context,
        group: kind.group.clone(),
        kind: kind.kind.clone(),
        namespace: namespace.to_string(),
        name: name.to_string(),
    }
}

pub fn builtin_ref(context: &Context, kind: &KindId, namespace: &str, name: &str) -> ObjectRef {
    ObjectRef {
        context: context.clone(),
        group: kind.group.to_string(),
        kind: kind.kind.to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
    }
}

pub fn is_hierarchy(kind: &KindInfo) -> bool {
    is_hierarchy_kind(&kind.group, &kind.kind)
}

pub fn is_hierarchy_kind(group: &str, kind: &str) -> bool {
    group == kinds::RESOURCEMANAGER_GROUP && hierarchy::is_hierarchy_kind(kind)
}

/// The stored object of a hierarchy parent.
pub fn parent_ref(parent: &ParentRef) -> ObjectRef {
    builtin_ref(&Context::Platform, &parent.kind.kind(), "", &parent.name)
}

/// The organization or project a context is (none for the platform).
pub fn context_object(context: &Context) -> Option<Container> {
    match context {
        Context::Platform => None,
        Context::Organization(org) => Some(Container::platform_object(&kinds::ORGANIZATION, org)),
        Context::Project(project) => Some(Container::platform_object(&kinds::PROJECT, project)),
    }
}

/// The namespace an object in `context` is created in, as a container.
pub fn namespace(context: &Context, name: &str) -> Container {
    Container {
        object_ref: builtin_ref(context, &kinds::NAMESPACE, "", name),
        plural: kinds::NAMESPACE.plural,
    }
}

/// An object that contains others: they are checked against it (it
/// exists, it is not being deleted) in their create's transaction, and
/// keep it from being deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub object_ref: ObjectRef,
    pub plural: &'static str,
}

impl Container {
    /// A built-in kind's object in the platform context.
    pub fn platform_object(kind: &KindId, name: &str) -> Container {
        Container {
            object_ref: builtin_ref(&Context::Platform, kind, "", name),
            plural: kind.plural,
        }
    }

    /// How a message names it: `project "web"`.
    pub fn describe(&self) -> String {
        format!(
            "{} \"{}\"",
            self.object_ref.kind.to_lowercase(),
            self.object_ref.name
        )
    }

    /// The 404 of a container that does not exist.
    pub fn missing(&self) -> ApiError {
        ApiError::not_found(&self.object_ref.group, self.plural, &self.object_ref.name)
    }
}

/// Whether an object is visible from a context: hierarchy objects are
/// stored once and seen from their organization's context.
pub fn visible(context: &Context, kind: &KindInfo, doc: &Value) -> bool {
    match context {
        Context::Organization(org) if is_hierarchy(kind) => {
            doc["metadata"]["labels"][ORGANIZATION_LABEL].as_str() == Some(org)
        }
        _ => true,
    }
}

/// The labels a context gives admission's `namespaceSelector`: its
/// organization's name, and a project's own name and its organization
/// (from `context_object`, the project as the request read it).
pub fn context_labels(
    context: &Context,
    context_object: Option<&Stored>,
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    match context {
        Context::Platform => {}
        Context::Organization(org) => {
            labels.insert(ORGANIZATION_LABEL.to_string(), org.clone());
        }
        Context::Project(project) => {
            labels.insert(kinds::PROJECT_LABEL.to_string(), project.clone());
            let org = context_object
                .and_then(|s| s.object["metadata"]["labels"][ORGANIZATION_LABEL].as_str());
            if let Some(org) = org {
                labels.insert(ORGANIZATION_LABEL.to_string(), org.to_string());
            }
        }
    }
    labels
}
