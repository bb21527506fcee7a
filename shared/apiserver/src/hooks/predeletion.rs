//! Pre-deletion hooks (#21) at create: the finalizer of every hook that
//! matches the new object (its kind, its labels) goes on it before it is
//! written, so a hook holds every object created once the hook's own
//! write has answered. Existing objects get theirs from the gc
//! (gc/predeletion_hooks.rs). The hook kind itself is never held.

use domain::kinds;
use domain::object::Object;
use domain::ApiError;

use super::HookContext;

pub(super) async fn created(cx: &HookContext<'_>, obj: &mut Object) -> Result<(), ApiError> {
    if cx.kind.is(&kinds::PRE_DELETION_HOOK) {
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
