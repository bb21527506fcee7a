//! Who made a change, as the lifecycle event names it (`actor_urn`): the
//! User its writer is, `urn:milo:user:{uid}` like the User's own events.
//! A change's writer rides on its record; a delete's is read from the
//! note the delete left (the removed item can no longer say). A writer
//! that is no User (a system principal, a subject without a User object)
//! is no actor. One GetItem per writer a batch meets, then cached for it.

use std::collections::HashMap;

use domain::ingest::{object_urn, Urn};
use domain::kinds::USER;
use domain::object::Object;
use store::stream::StreamRecord;
use store::{ObjectRef, Store, StoreError};

use crate::changes::ObjectChange;

/// The actors of one batch's changes.
pub struct Actors<'a> {
    store: &'a Store,
    users: HashMap<String, Option<Urn>>,
}

impl<'a> Actors<'a> {
    pub fn new(store: &'a Store) -> Actors<'a> {
        Actors {
            store,
            users: HashMap::new(),
        }
    }

    /// The actor of `change`, which `record` reports.
    pub async fn actor(
        &mut self,
        record: &StreamRecord,
        change: &ObjectChange,
    ) -> Result<Option<Urn>, StoreError> {
        let writer = match (&change.after, &change.before) {
            (Some(_), _) => record.writer.clone(),
            (None, Some(old)) => self.store.deleted_by(&old.metadata.uid).await?,
            (None, None) => None,
        };
        match writer {
            Some(writer) => self.user(writer).await,
            None => Ok(None),
        }
    }

    async fn user(&mut self, name: String) -> Result<Option<Urn>, StoreError> {
        if let Some(known) = self.users.get(&name) {
            return Ok(known.clone());
        }
        let at = ObjectRef::in_platform(USER.group, USER.kind, &name);
        let stored = self.store.get(&at.key()).await?;
        let urn = stored
            .and_then(|stored| Object::from_value(stored.object).ok())
            .and_then(|user| object_urn(USER.kind, &user.metadata.uid));
        self.users.insert(name, urn.clone());
        Ok(urn)
    }
}
