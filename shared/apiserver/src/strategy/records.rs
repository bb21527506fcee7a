//! Records about another object, which contain them and track them in
//! their status: a ProjectSuspension and the project it suspends.

use domain::kinds::{self, KindInfo};
use domain::object::Object;
use domain::ApiError;
use serde_json::Value;
use store::{Context, Stored};

use super::{ChildFate, Strategy};
use crate::placement::Container;

pub(super) struct ProjectSuspensions;
impl Strategy for ProjectSuspensions {
    fn prepare_for_create(&self, obj: &mut Object, _now: &str) {
        obj.set_status(domain::suspension::created_status());
    }

    fn tracked_by(&self, obj: &Object) -> Option<Container> {
        let project = domain::suspension::suspended_project(obj.spec())?;
        Some(Container::platform_object(&kinds::PROJECT, project))
    }

    fn tracking_status(&self, status: &Value, doc: &Value, now: &str, present: bool) -> Value {
        let entry = domain::suspension::entry(doc);
        if present {
            domain::suspension::status_with(status, entry, now)
        } else {
            domain::suspension::status_without(status, &entry, now)
        }
    }

    /// A project's suspensions are records about it, not its content: they
    /// go with it (as Milo's garbage collector takes them).
    fn when_container_deleted(&self) -> ChildFate {
        ChildFate::GoesWith
    }
}

/// Refuses a create or update in the control plane of a suspended
/// project (Milo's ProjectSuspensionEnforcement), whatever its kind.
/// `context_object` is the project as the request read it, not guarded
/// in the write's transaction: Milo's plugin too reads a cached state.
pub fn refuse_if_context_suspended(
    context: &Context,
    context_object: Option<&Stored>,
    kind: &KindInfo,
    name: &str,
) -> Result<(), ApiError> {
    let Context::Project(project) = context else {
        return Ok(());
    };
    if context_object.is_some_and(|s| domain::suspension::is_suspended(&s.object)) {
        return Err(ApiError::ProjectSuspended {
            group: kind.group.clone(),
            kind: kind.plural.clone(),
            name: name.to_string(),
            project: project.to_string(),
        });
    }
    Ok(())
}
