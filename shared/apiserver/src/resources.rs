//! Every resource path is served from here, looked up in one table: the
//! virtual resources (reads computed from the table: the graph, the quota
//! tree; revisions later) first, then the stored kinds of the catalog
//! (objects/). A step every request needs (authorization, #20) goes in
//! [`serve`], and so covers every route.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use domain::catalog::Catalog;
use domain::ApiError;
use store::Context;

use crate::authorization::{self, reviews, Question};
use crate::codec::Response;
use crate::route::{self, ResourcePath};
use crate::{graph, objects, quota_tree, ApiServer, Call};

type Served<'a> = Pin<Box<dyn Future<Output = Result<Response, ApiError>> + Send + 'a>>;

/// A resource no object stands for: computed, registered here as a kind
/// is in the catalog.
struct VirtualResource {
    /// Whether a path is this resource's.
    serves: fn(&ResourcePath) -> bool,
    /// Served in every context (else in the platform's only).
    everywhere: bool,
    serve: for<'a> fn(&'a ApiServer, &'a ResourcePath, &'a Call<'a>) -> Served<'a>,
}

/// The virtual resources: the graph and the quota tree (read-only, in the
/// platform), the access reviews (created, in every context).
const VIRTUAL: &[VirtualResource] = &[
    VirtualResource {
        serves: graph::is_graph_path,
        everywhere: false,
        serve: |server, path, call| {
            Box::pin(async move {
                graph::serve(&ingest::Graph::new(server.store.clone()), path, call).await
            })
        },
    },
    VirtualResource {
        serves: quota_tree::is_tree_path,
        everywhere: false,
        serve: |server, path, call| Box::pin(quota_tree::serve(&server.store, path, call)),
    },
    VirtualResource {
        serves: reviews::is_review_path,
        everywhere: true,
        serve: |server, path, call| Box::pin(reviews::serve(server, path, call)),
    },
];

/// Serves a resource path: a virtual resource's read, or a stored kind's
/// verb, once authorization allows it.
pub(crate) async fn serve(
    server: &ApiServer,
    catalog: Arc<Catalog>,
    context: &Context,
    path: &ResourcePath,
    call: &Call<'_>,
) -> Result<Response, ApiError> {
    let virtual_resource = VIRTUAL
        .iter()
        .find(|v| (v.everywhere || *context == Context::Platform) && (v.serves)(path));
    // A virtual resource's kind is its resource; a path no kind serves is
    // still decided (by its plural), so a refusal says nothing of what is.
    let kind = match virtual_resource {
        Some(_) => path.plural.clone(),
        None => catalog
            .resolve(
                route::context_kind(context),
                &path.group,
                &path.version,
                &path.plural,
            )
            .map_or_else(|_| path.plural.clone(), |k| k.kind.clone()),
    };
    let context_object = call.context_object.as_ref().map(|c| &c.object);
    let question = Question::of(&call.request, context, path, &kind, context_object);
    let access = authorization::authorize(server, &call.request, question).await?;
    match virtual_resource {
        Some(resource) => (resource.serve)(server, path, call).await,
        None => {
            Box::pin(objects::serve(
                server, catalog, context, path, call, &access,
            ))
            .await
        }
    }
}
