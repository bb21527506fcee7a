//! Events (core/v1 and events.k8s.io/v1): whoever writes one, the platform's
//! recorder (recorder.rs) or a client's, it is kept for the event
//! retention and no longer, as Kubernetes keeps Events for `--event-ttl`.

use super::Strategy;

pub(super) struct Events;
impl Strategy for Events {
    fn expires(&self) -> bool {
        true
    }

    // An Event's labels select nothing a person asks for; its lists filter
    // by field (involvedObject.*), and a recorder's write stays one item.
    fn labels_indexed(&self) -> bool {
        false
    }
}
