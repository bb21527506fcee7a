//! A User's own grant: with each User, as Milo's webhook does, a
//! PolicyBinding `user-self-manage-{user}` in `milo-system` granting the
//! built-in role `iam.miloapis.com-user-self-manage` on that User alone
//! (read and change their own User), deleted with the User.

use domain::iam::USER_SELF_MANAGE_ROLE;
use domain::kinds;
use domain::object::Object;
use serde_json::json;
use store::Write;

use super::managed_bindings::Managed;
use super::HookContext;
use crate::write_set::Role;

/// The binding's role in the write set.
pub(super) const SELF_MANAGE: Role = Role::Hook {
    hook: "users",
    part: "self-manage binding",
};

/// The namespace Milo keeps the users' own bindings in.
const NAMESPACE: &str = "milo-system";

fn self_manage(user: &Object) -> Managed<'_> {
    let name = &user.metadata.name;
    Managed {
        namespace: NAMESPACE,
        name: format!("user-self-manage-{name}"),
        role: USER_SELF_MANAGE_ROLE,
        user: (name, &user.metadata.uid),
        resource: (
            kinds::USER.group,
            kinds::USER.kind,
            name,
            &user.metadata.uid,
        ),
        labels: json!({"iam.miloapis.com/user": name}),
        owner: (
            kinds::USER.api_version(),
            kinds::USER.kind,
            name,
            &user.metadata.uid,
        ),
    }
}

pub(super) fn created(cx: &HookContext<'_>, obj: &Object) -> Vec<Write> {
    match cx.kind.is(&kinds::USER) {
        true => self_manage(obj).put(cx),
        false => Vec::new(),
    }
}

pub(super) fn deleted(cx: &HookContext<'_>, old: &Object) -> Vec<Write> {
    match cx.kind.is(&kinds::USER) {
        true => self_manage(old).delete(cx),
        false => Vec::new(),
    }
}
