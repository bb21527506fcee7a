//! Pre-deletion hooks (#21) on a write: the finalizer of every hook that
//! matches the object (its kind, its labels) goes on it before it is
//! written, so a hook holds every object created once the hook's own
//! write has answered, and one that comes to match by an update (a label
//! added). Objects that matched before the hook existed get theirs from
//! the gc (gc/predeletion_hooks.rs). Nothing is added to an object whose
//! deletion started (Kubernetes' rule), and the hook kind is never held.

use domain::deletion;
use domain::kinds;
use domain::object::Object;
use domain::ApiError;

use super::HookContext;

pub(super) async fn written(cx: &HookContext<'_>, obj: &mut Object) -> Result<(), ApiError> {
    if cx.kind.is(&kinds::PRE_DELETION_HOOK) || deletion::is_terminating(obj) {
        return Ok(());
    }
    let hooks = cx.pre_deletion.current(cx.store).await?;
    for hook in hooks.iter() {
        let finalizer = hook.finalizer();
        if hook.matches(&cx.kind.group, &cx.kind.kind, &obj.metadata.labels)
            && !obj.metadata.finalizers.contains(&finalizer)
        {
            obj.metadata.finalizers.push(finalizer);
        }
    }
    Ok(())
}
