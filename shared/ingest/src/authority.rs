//! Who the events function acts as (#20): before it writes a resource
//! record it asks whether its principal may, through this seam. The
//! function wires the platform's IAM in (`apiserver::ServicePrincipal`);
//! a graph that acts as nobody writes nothing.

use std::future::Future;
use std::pin::Pin;

/// The verb a record's write needs: `create` for a record not yet stored,
/// `update` for one that is.
pub fn verb_for(stored: bool) -> &'static str {
    match stored {
        true => "update",
        false => "create",
    }
}

/// A refusal, or why the decision could not be made.
pub type Decision<'a> = Pin<Box<dyn Future<Output = Result<Option<String>, String>> + Send + 'a>>;

/// Decides for one principal whether it may `verb` an ExternalResource
/// record: `Ok(None)` when it may, `Ok(Some(why))` when it may not, `Err`
/// when the policy could not be read (the message is retried).
pub trait Authority: Send + Sync {
    fn refusal(&self, verb: &'static str) -> Decision<'_>;
}
