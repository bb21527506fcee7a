//! The kinds that change the catalog: CRDs and DiscoveryContextPolicies.
//! A write of either moves the catalog stamp.

use domain::catalog::Catalog;
use domain::object::Object;
use domain::ApiError;

use super::{Reads, Strategy, StrategyContext};
use crate::write_set::Stamp;
use crate::{context_policies, crds};

pub(super) struct Crds;
impl Strategy for Crds {
    fn admit_create(&self, catalog: &Catalog, obj: &mut Object, now: &str) -> Result<(), ApiError> {
        crds::prepare_create(catalog, obj, now)
    }

    fn admit_update(
        &self,
        catalog: &Catalog,
        old: &Object,
        new: &mut Object,
        now: &str,
    ) -> Result<(), ApiError> {
        crds::prepare_update(catalog, old, new, now)
    }

    /// A type whose objects still exist is not deleted.
    fn check_delete<'a>(
        &'a self,
        cx: &'a StrategyContext<'a>,
        old: &'a Object,
    ) -> Option<Reads<'a, ()>> {
        Some(Box::pin(crds::check_delete(cx.server, cx.catalog, old)))
    }

    fn stamp(&self) -> Option<Stamp> {
        Some(Stamp::Catalog)
    }
}

pub(super) struct DiscoveryContextPolicies;
impl Strategy for DiscoveryContextPolicies {
    fn admit_create(&self, _: &Catalog, obj: &mut Object, _: &str) -> Result<(), ApiError> {
        context_policies::check(obj)
    }

    fn admit_update(
        &self,
        _: &Catalog,
        _: &Object,
        new: &mut Object,
        _: &str,
    ) -> Result<(), ApiError> {
        context_policies::check(new)
    }

    fn stamp(&self) -> Option<Stamp> {
        Some(Stamp::Catalog)
    }

    fn answers_when_every_instance_applies(&self) -> bool {
        true
    }
}
