//! Milo's User: the token's subject, as an object. It is ready for use as
//! soon as it is stored (Milo's controller marks it Ready after creating
//! it; nothing here waits on anything), and Active.

use domain::object::Object;

use super::Strategy;

pub(super) struct Users;
impl Strategy for Users {
    fn prepare_for_create(&self, obj: &mut Object, now: &str) {
        let mut status =
            domain::hierarchy::ready_status("User", now, obj.metadata.generation.unwrap_or(1));
        status["state"] = "Active".into();
        obj.set_status(status);
    }
}
