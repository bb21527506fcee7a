//! Milo's User: the token's subject, as an object. It is ready for use as
//! soon as it is stored (Milo's controller marks it Ready after creating
//! it; nothing here waits on anything), and Active. As Milo's, it carries
//! the membership-cleanup finalizer: deleted, it goes once the gc function
//! has deleted the OrganizationMemberships naming it (#21).

use domain::kinds;
use domain::object::Object;
use store::{Context, ObjectRef};

use super::{Reads, Strategy, StrategyContext};
use crate::placement::builtin_ref;
use crate::stamped;

/// Milo's UserController's finalizer.
pub(crate) const MEMBERSHIP_CLEANUP: &str = "iam.miloapis.com/user-membership-cleanup";

pub(super) struct Users;
impl Strategy for Users {
    fn prepare_for_create(&self, obj: &mut Object, now: &str) {
        let mut status =
            domain::hierarchy::ready_status("User", now, obj.metadata.generation.unwrap_or(1));
        status["state"] = "Active".into();
        obj.set_status(status);
        if !obj
            .metadata
            .finalizers
            .iter()
            .any(|f| f == MEMBERSHIP_CLEANUP)
        {
            obj.metadata.finalizers.push(MEMBERSHIP_CLEANUP.into());
        }
    }

    fn platform_finalizer(&self) -> Option<&'static str> {
        Some(MEMBERSHIP_CLEANUP)
    }

    fn finalized_with<'a>(
        &'a self,
        cx: &'a StrategyContext<'a>,
        obj: &'a Object,
    ) -> Reads<'a, Vec<ObjectRef>> {
        Box::pin(async move {
            let memberships =
                stamped::platform_documents(&cx.server.store, &kinds::ORGANIZATION_MEMBERSHIP)
                    .await?;
            Ok(memberships
                .iter()
                .filter(|m| m["spec"]["userRef"]["name"] == obj.metadata.name.as_str())
                .map(|m| {
                    builtin_ref(
                        &Context::Platform,
                        &kinds::ORGANIZATION_MEMBERSHIP,
                        m["metadata"]["namespace"].as_str().unwrap_or_default(),
                        m["metadata"]["name"].as_str().unwrap_or_default(),
                    )
                })
                .collect())
        })
    }
}
