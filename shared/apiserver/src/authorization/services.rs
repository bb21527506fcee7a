//! The platform's own functions as named principals (#20): the events
//! function acts as `system:events`, the quota function as
//! `system:quota`, the gc function as `system:gc` (through the API). Each
//! is bound to a built-in role holding only what it needs
//! (domain/iam/builtin.yaml), and asks the same policy as every request
//! before it acts, so an administrator's binding can widen it and a
//! refusal says which permission it lacks.

use std::time::Duration;

use std::sync::Arc;

use domain::iam::{Permission, Target, EVENTS_PRINCIPAL};
use domain::ApiError;
use store::Store;

use super::iam_cache::IamCache;

/// A function's principal, deciding against the stored policy (re-checked
/// against its stamp at most every `refresh`).
pub struct ServicePrincipal {
    name: &'static str,
    store: Store,
    iam: IamCache,
}

impl ServicePrincipal {
    pub fn new(name: &'static str, store: Store, refresh: Duration) -> ServicePrincipal {
        ServicePrincipal {
            name,
            store,
            iam: IamCache::new(refresh),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Why the principal may not `{group}/{plural}.{verb}` in the
    /// platform (and so anywhere), or `None` when it may.
    pub async fn refusal(
        &self,
        group: &str,
        plural: &str,
        kind: &str,
        verb: &str,
    ) -> Result<Option<String>, ApiError> {
        let policy = self.iam.current(&self.store).await?;
        let subject = policy.subject(self.name, &[]);
        let permission = Permission::new(group, plural, verb);
        let target = Target {
            group: group.to_string(),
            kind: kind.to_string(),
            ..super::platform_target()
        };
        let decision = policy.decide(&subject, &permission, &target);
        Ok((!decision.allowed).then(|| {
            format!(
                "{} may not {}: {}",
                self.name,
                permission.name(),
                decision.reason
            )
        }))
    }

    /// [`ServicePrincipal::refusal`] as a 403.
    pub async fn require(
        &self,
        group: &str,
        plural: &str,
        kind: &str,
        verb: &str,
    ) -> Result<(), ApiError> {
        match self.refusal(group, plural, kind, verb).await? {
            None => Ok(()),
            Some(message) => Err(ApiError::Forbidden { message }),
        }
    }
}

/// The graph the events function writes with: as `system:events`.
pub fn events_graph(store: Store, refresh: Duration) -> ingest::Graph {
    let events = ServicePrincipal::new(EVENTS_PRINCIPAL, store.clone(), refresh);
    ingest::Graph::new(store).acting_as(Arc::new(events))
}

impl ingest::Authority for ServicePrincipal {
    fn refusal(&self, verb: &'static str) -> ingest::authority::Decision<'_> {
        let kind = &domain::kinds::EXTERNAL_RESOURCE;
        Box::pin(async move {
            ServicePrincipal::refusal(self, kind.group, kind.plural, kind.kind, verb)
                .await
                .map_err(|e| e.to_string())
        })
    }
}
