//! The review kinds as virtual resources, in every context: a
//! SelfSubjectAccessReview or SubjectAccessReview decided as the request
//! it describes would be (in the context of its URL), a
//! SelfSubjectRulesReview listing what the caller may do there, and a
//! SelfSubjectReview saying who the caller is. Each is a POST that
//! writes nothing (201 with the status filled in, as Kubernetes).

use domain::iam::access_review::{self, ResourceAttributes, ReviewRequest};
use domain::iam::{Decision, Policy, Subject, Target};
use domain::ApiError;

use super::{complete, node_of, subject_of, Question};
use crate::codec::{self, Response};
use crate::route::{self, ResourcePath};
use crate::{ApiServer, Call};

const AUTHORIZATION: &str = "authorization.k8s.io";
const AUTHENTICATION: &str = "authentication.k8s.io";

/// Whether a path is a review's collection.
pub(crate) fn is_review_path(path: &ResourcePath) -> bool {
    path.name.is_none()
        && path.subresource.is_none()
        && match path.group.as_str() {
            AUTHORIZATION => {
                path.version == "v1"
                    && matches!(
                        path.plural.as_str(),
                        "selfsubjectaccessreviews"
                            | "selfsubjectrulesreviews"
                            | "subjectaccessreviews"
                            | "localsubjectaccessreviews"
                    )
            }
            AUTHENTICATION => {
                matches!(path.version.as_str(), "v1" | "v1beta1" | "v1alpha1")
                    && path.plural == "selfsubjectreviews"
            }
            _ => false,
        }
}

pub(crate) async fn serve(
    server: &ApiServer,
    path: &ResourcePath,
    call: &Call<'_>,
) -> Result<Response, ApiError> {
    if call.method != http::Method::POST {
        return Err(ApiError::MethodNotAllowed {
            message: format!("{} are created (POST), never read or changed", path.plural),
        });
    }
    let body = codec::decode_object(call.header("content-type"), call.body)?.value;
    let kind = body["kind"].as_str().unwrap_or_default().to_string();
    let request = access_review::parse(&path.plural, &body)
        .map_err(|message| ApiError::bad_request(format!("{kind}: {message}")))?;
    let policy = server.iam.current(&server.store).await?;
    let caller = subject_of(&policy, &call.request);
    let status = match request {
        ReviewRequest::WhoAmI => {
            let groups: Vec<String> = caller.groups.iter().cloned().collect();
            access_review::user_info(&caller.user, &groups)
        }
        ReviewRequest::Rules { namespace } => {
            let mut target = place(server, call, &ResourceAttributes::default()).await?;
            target.namespace = namespace;
            access_review::rules_status(policy.rules(&caller, &target))
        }
        ReviewRequest::Access {
            subject,
            attributes,
        } => {
            let subject = match subject {
                Some((user, groups)) => policy.subject(&user, &groups),
                None => caller,
            };
            let decision = decide(server, &policy, &subject, call, &attributes).await?;
            access_review::access_status(decision.allowed, &decision.reason)
        }
    };
    let api_version = format!("{}/{}", path.group, path.version);
    let answer = access_review::answered(&api_version, &kind, &body, status);
    Ok(Response::json(201, &answer))
}

/// The decision the described request would get (its chain read whole
/// when the first placing refuses, as the gate does).
async fn decide(
    server: &ApiServer,
    policy: &Policy,
    subject: &Subject,
    call: &Call<'_>,
    attributes: &ResourceAttributes,
) -> Result<Decision, ApiError> {
    let question = question(server, call, attributes).await?;
    let first = policy.decide(subject, &question.permission, &question.target);
    if first.allowed {
        return Ok(first);
    }
    let target = complete(server, question.target).await?;
    Ok(policy.decide(subject, &question.permission, &target))
}

/// The question of the request a review describes, in the review's context.
async fn question(
    server: &ApiServer,
    call: &Call<'_>,
    attributes: &ResourceAttributes,
) -> Result<Question, ApiError> {
    let context = &call.request.context;
    let catalog = server.catalog.current(&server.store).await?;
    let served = catalog
        .served_in(route::context_kind(context))
        .find(|k| k.group == attributes.group && k.plural == attributes.resource);
    let kind = served.map_or_else(|| attributes.resource.clone(), |k| k.kind.clone());
    // kubectl names the namespace `default` even for a cluster-scoped kind.
    let cluster_scoped = served.is_some_and(|k| k.scope == domain::kinds::Scope::Cluster);
    let path = ResourcePath {
        group: attributes.group.clone(),
        version: String::new(),
        plural: attributes.resource.clone(),
        namespace: attributes.namespace.clone().filter(|_| !cluster_scoped),
        name: attributes.name.clone(),
        subresource: attributes.subresource.clone(),
    };
    let mut request = call.request.clone();
    request.verb = crate::request::Verb::named(&attributes.verb);
    let context_object = call.context_object.as_ref().map(|c| &c.object);
    let mut question = Question::of(&request, context, &path, &kind, context_object);
    // Kubernetes' verbs beyond the HTTP ones (`use`, `bind`, `escalate`)
    // are asked as written.
    question.permission.verb = attributes.verb.clone();
    Ok(question)
}

/// Where a rules review asks: the review's own context.
async fn place(
    server: &ApiServer,
    call: &Call<'_>,
    attributes: &ResourceAttributes,
) -> Result<Target, ApiError> {
    let question = question(server, call, attributes).await?;
    let mut target = complete(server, question.target).await?;
    target.context = node_of(&call.request.context);
    Ok(target)
}
