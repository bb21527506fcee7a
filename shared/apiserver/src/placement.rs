//! Where an object of a kind is stored, and from which contexts it is
//! seen: hierarchy objects are stored once, in the platform context, and
//! seen from their organization's; every other object lives in the context
//! it was created in. A leaf: the verbs, the list, quota and the readers of
//! the hierarchy all ask it, and it asks none of them.

use domain::hierarchy;
use domain::kinds::{self, KindId, KindInfo, ORGANIZATION_LABEL};
use serde_json::Value;
use store::{Context, ObjectRef};

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
    kind.group == kinds::RESOURCEMANAGER_GROUP && hierarchy::is_hierarchy_kind(&kind.kind)
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
