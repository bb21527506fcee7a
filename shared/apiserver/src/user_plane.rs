//! A user's control plane (`/apis/iam.miloapis.com/v1alpha1/users/{user}
//! /control-plane`), as Milo serves it: its discovery (filtered by the URL
//! alone, as the other contexts'), and the user's own
//! OrganizationMemberships: how a user finds the organizations they belong
//! to. Those are stored in the platform, each in its organization's
//! namespace; the plane lists them by `spec.userRef.name`. Only the user,
//! or someone who may read that User, reads it.

use bytes::Bytes;
use domain::kinds::{self, ContextKind};
use domain::ApiError;
use http::Method;
use store::Context;

use crate::authorization::{self, Access, Question};
use crate::codec::{self, Response};
use crate::route::{ResourcePath, Target};
use crate::{documents, list, refuse_writes_to_documents, request, ApiServer, Call};

pub(crate) async fn serve(
    server: &ApiServer,
    request: &http::Request<Bytes>,
    principal: auth::Principal,
    request_id: &str,
    user: &str,
    target: Target,
) -> Result<Response, ApiError> {
    refuse_writes_to_documents(request, &target)?;
    let Target::Resource(path) = target else {
        let catalog = server.catalog.reload_if_changed(&server.store).await?;
        return documents(&catalog, ContextKind::User, target);
    };
    let memberships = &kinds::ORGANIZATION_MEMBERSHIP;
    let is_memberships = path.group == memberships.group && path.plural == memberships.plural;
    if !is_memberships || path.name.is_some() || path.namespace.is_some() {
        return Err(ApiError::path_not_found(format!(
            "{}.{} are not served in the control plane of user \"{user}\": it lists the user's organizationmemberships",
            path.plural, path.group
        )));
    }
    if request.method() != Method::GET {
        return Err(ApiError::MethodNotAllowed {
            message: format!(
                "the control plane of user \"{user}\" is read-only: change memberships in their organization's namespace"
            ),
        });
    }
    let mut query = codec::Query::parse(request.uri().query())?;
    let described = request::RequestInfo::describe(
        request.method(),
        &Context::Platform,
        &Target::Resource(path.clone()),
        query.watch,
        principal,
        request_id,
    );
    if described.principal.subject != user {
        authorization::authorize(server, &described, reading_the_user(&described, user)).await?;
    }
    let own = format!("spec.userRef.name={user}");
    query.field_selector = match query.field_selector.as_str() {
        "" => own,
        other => format!("{other},{own}"),
    };
    let catalog = server.catalog.current(&server.store).await?;
    let kind = catalog
        .kind(memberships)
        .ok_or_else(|| ApiError::internal("OrganizationMembership is a built-in kind"))?;
    let call = Call {
        method: request.method(),
        headers: request.headers(),
        body: request.body(),
        query,
        request: described,
        context_object: None,
        notices: Default::default(),
    };
    list::list(
        server,
        &Context::Platform,
        &kind,
        None,
        &call,
        &Access::Whole,
    )
    .await
}

/// Someone else reads a user's plane as they may read that User.
fn reading_the_user(request: &request::RequestInfo, user: &str) -> Question {
    let path = ResourcePath {
        group: kinds::USER.group.to_string(),
        version: kinds::USER.version.to_string(),
        plural: kinds::USER.plural.to_string(),
        namespace: None,
        name: Some(user.to_string()),
        subresource: None,
    };
    let mut asked = request.clone();
    asked.verb = request::Verb::Get;
    Question::of(&asked, &Context::Platform, &path, kinds::USER.kind, None)
}
