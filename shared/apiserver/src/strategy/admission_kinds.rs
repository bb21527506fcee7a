//! The four admission kinds: policies and their bindings. Each is parsed
//! and compiled at write (422 when it does not); a binding gets its status
//! from the freshest policies. A write moves the admission stamp.

use domain::object::Object;
use serde_json::Value;

use super::{Reads, Strategy, StrategyContext};
use crate::policies;
use crate::write_set::Stamp;

pub(super) struct AdmissionKinds;
impl Strategy for AdmissionKinds {
    fn exempt_from_admission(&self) -> bool {
        true
    }

    fn admit_with_reads<'a>(
        &'a self,
        cx: &'a StrategyContext<'a>,
        obj: &'a mut Object,
        previous: &'a Value,
    ) -> Reads<'a, ()> {
        Box::pin(async move {
            policies::check(cx.kind, obj)?;
            if policies::is_binding_kind(cx.kind) {
                // The freshest view: a policy written a moment ago on
                // another instance counts.
                let server = cx.server;
                let set = server
                    .admission
                    .policies
                    .reload_if_changed(&server.store)
                    .await?;
                let mut doc = obj.to_value();
                doc["status"] = previous.clone();
                let now = cx.request.timestamp();
                let doc = policies::with_binding_status(cx.kind, doc, &set, &now);
                obj.set_status(doc["status"].clone());
            }
            Ok(())
        })
    }

    fn stamp(&self) -> Option<Stamp> {
        Some(Stamp::Admission)
    }
}
