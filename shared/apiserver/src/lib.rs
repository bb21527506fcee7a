//! The request pipeline of the `resources` function:
//!
//! route → authenticate → (authorize: IAM, later) → decode + default
//!   → validate → mutating policies → validating policies → persist → respond
//!
//! [`ApiServer::handle`] takes an `http::Request` and always returns a
//! response: every failure becomes a Kubernetes `Status`.

pub mod admission;
mod admission_api;
mod authorization;
mod bootstrap;
mod catalog_cache;
mod codec;
mod context_policies;
mod crds;
mod discovery;
mod errors;
pub mod gc;
mod graph;
mod hierarchy_reads;
mod hooks;
mod label_index;
pub mod lambda;
mod list;
mod namespaces;
mod objects;
mod openapi;
mod placement;
mod policies;
pub mod policy_cache;
mod predeletion_cache;
mod present;
pub mod quota_audit;
pub mod quota_cache;
mod quota_tree;
mod recorder;
mod request;
mod resources;
mod route;
mod stamped;
mod strategy;
mod user_plane;
pub mod watch;
mod write_set;

use bytes::Bytes;
use domain::continue_token::TokenSigner;
use domain::ApiError;
use http::{HeaderMap, Method};
use std::time::Duration;
use store::{Context, Store};
use tracing::Instrument;

pub use authorization::{events_graph, ServicePrincipal};
pub use codec::{BodyStream, Response, MAX_BODY_BYTES};

/// Everything a function instance builds once and reuses across requests.
pub struct ApiServer {
    store: Store,
    verifier: auth::Verifier,
    tokens: TokenSigner,
    catalog: catalog_cache::CatalogCache,
    /// The compiled admission policies and their evaluation budget.
    admission: admission::Admission,
    /// The parsed quota policies and registrations (quota_cache.rs).
    quota: std::sync::Arc<quota_cache::QuotaCache>,
    /// The roles, bindings and memberships every decision reads
    /// (authorization/iam_cache.rs).
    iam: authorization::iam_cache::IamCache,
    /// The pre-deletion hooks a create and the gc read (predeletion_cache.rs).
    pre_deletion: predeletion_cache::PreDeletionCache,
    /// Whether requests are authorized (always, but in a benchmark's
    /// baseline: [`ApiServer::without_authorization`]).
    authorizes: bool,
    /// How many objects a deletecollection reads at a time
    /// (objects/delete_collection.rs).
    collection_page: i32,
    /// Set once this instance has run `bootstrap` (the platform's
    /// `default` namespace, the built-in CRDs as objects).
    bootstrapped: tokio::sync::OnceCell<()>,
    /// The change feed's watch stream (watch/); None without NATS, where
    /// a watch is a 405 and a list's resourceVersion is "".
    watch: Option<watch::WatchSource>,
    /// How long an Event is kept (recorder.rs).
    event_retention: Duration,
}

/// Which function's API a request is for.
#[derive(Clone, Copy)]
pub enum Api {
    /// The resources function's: every kind's API, discovery, the graph.
    Resources,
    /// The admission function's: AdmissionReviews and policy audits.
    Admission,
}

/// How long an instance serves its catalog before re-checking the stamp:
/// a type change is in force everywhere within this (plus one read).
pub const DEFAULT_CATALOG_REFRESH: Duration = Duration::from_millis(500);

/// The parts of a request the pipeline reads: its HTTP parts, and the
/// description built once from them.
pub(crate) struct Call<'a> {
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub query: codec::Query,
    pub request: request::RequestInfo,
    /// The organization or project the request's context is, as read when
    /// the context was checked (none in the platform, and for the
    /// admission function's paths): read once per request.
    pub context_object: Option<store::Stored>,
    /// What the request leaves for a person to see: recorded as Events
    /// once it is answered (recorder.rs).
    pub notices: recorder::Notices,
}

impl Call<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn timestamp(&self) -> String {
        self.request.timestamp()
    }
}

impl ApiServer {
    /// Fails only if a built-in CRD shipped with the server is broken.
    pub fn new(
        store: Store,
        verifier: auth::Verifier,
        continue_secret: &[u8],
        catalog_refresh: Duration,
    ) -> Result<Self, String> {
        Ok(Self {
            store,
            verifier,
            tokens: TokenSigner::new(continue_secret),
            catalog: catalog_cache::CatalogCache::new(catalog_refresh)?,
            admission: admission::Admission::new(
                catalog_refresh,
                domain::admission::Budget::default(),
            ),
            quota: std::sync::Arc::new(quota_cache::QuotaCache::new(catalog_refresh)),
            iam: authorization::iam_cache::IamCache::new(catalog_refresh),
            pre_deletion: predeletion_cache::PreDeletionCache::new(catalog_refresh),
            authorizes: true,
            collection_page: objects::COLLECTION_PAGE,
            bootstrapped: tokio::sync::OnceCell::new(),
            watch: None,
            event_retention: recorder::DEFAULT_EVENT_RETENTION,
        })
    }

    /// The watch stream's last position: a list's resourceVersion. None
    /// without a watch stream or when it cannot be read now (the list then
    /// carries "", and a watch from it starts from the current state).
    pub(crate) async fn watch_position(&self) -> Option<u64> {
        Some(self.watch.as_ref()?.bounds().await.ok()?.last)
    }

    /// The same server serving watches from `source`.
    pub fn with_watch(mut self, source: watch::WatchSource) -> Self {
        self.watch = Some(source);
        self
    }

    /// The same server with another evaluation budget for admission
    /// policies (the default: `Budget::default()`, 100 ms per policy).
    pub fn with_admission_budget(mut self, budget: domain::admission::Budget) -> Self {
        self.admission = admission::Admission::new(self.catalog.refresh(), budget);
        self
    }

    /// The same server reading `objects` at a time in a deletecollection
    /// (a test's way to see several pages without thousands of objects).
    pub fn with_collection_page(mut self, objects: i32) -> Self {
        self.collection_page = objects.max(1);
        self
    }

    /// The same server allowing every authenticated request: the baseline
    /// the authorization benchmark measures against. No deployment builds
    /// one (there is no setting for it).
    pub fn without_authorization(mut self) -> Self {
        self.authorizes = false;
        self
    }

    /// Builds the server from the Lambda environment: `TABLE_NAME`,
    /// `DYNAMODB_ENDPOINT` (local only), `CONTINUE_SECRET`,
    /// `CATALOG_REFRESH_MS` (default 500) and the `AUTH_*` variables of
    /// [`auth::AuthConfig::from_env`].
    pub async fn from_env() -> Result<Self, String> {
        let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set".to_string())?;
        let secret = std::env::var("CONTINUE_SECRET")
            .map_err(|_| "CONTINUE_SECRET is not set".to_string())?;
        let config = auth::AuthConfig::from_env().map_err(|e| e.to_string())?;
        let verifier = auth::Verifier::new(config).map_err(|e| e.to_string())?;
        let refresh = match std::env::var("CATALOG_REFRESH_MS") {
            Ok(ms) => Duration::from_millis(
                ms.parse()
                    .map_err(|_| format!("CATALOG_REFRESH_MS is not a number: {ms:?}"))?,
            ),
            Err(_) => DEFAULT_CATALOG_REFRESH,
        };
        let store = Store::new(Store::client_from_env().await, table);
        let server = Self::new(store, verifier, secret.as_bytes(), refresh)?
            .with_event_retention(recorder::retention_from_env()?);
        Ok(match watch::WatchSource::from_env().await {
            Some(source) => server.with_watch(source),
            None => server,
        })
    }

    /// The resources function: every kind's API, discovery, the graph.
    pub async fn handle(&self, request: http::Request<Bytes>) -> http::Response<Vec<u8>> {
        // Boxed: the pipeline's future is deep, and callers that await it
        // inline would exceed the compiler's layout depth.
        Box::pin(self.respond(request, Api::Resources)).await
    }

    /// The admission function: AdmissionReviews and policy audits
    /// (admission_api.rs), over the same table, policies and tokens.
    pub async fn handle_admission(&self, request: http::Request<Bytes>) -> http::Response<Vec<u8>> {
        Box::pin(self.respond(request, Api::Admission)).await
    }

    /// A request of one of the platform's own functions, made in its
    /// process as `principal` (the gc function's `system:gc`): no token,
    /// but authorized as any other request.
    pub(crate) async fn handle_as(
        &self,
        principal: auth::Principal,
        request: http::Request<Bytes>,
    ) -> http::Response<Vec<u8>> {
        Box::pin(self.respond_as(Some(principal), request, Api::Resources)).await
    }

    async fn respond(&self, request: http::Request<Bytes>, api: Api) -> http::Response<Vec<u8>> {
        self.respond_as(None, request, api).await
    }

    /// Answers `request`, as `principal` or else whoever its token names.
    async fn respond_as(
        &self,
        principal: Option<auth::Principal>,
        request: http::Request<Bytes>,
        api: Api,
    ) -> http::Response<Vec<u8>> {
        let (response, request_id) = self.answer(principal, request, api).await;
        let response = collected(response).await;
        head(&response, &request_id)
            .body(response.body)
            .unwrap_or_else(|_| internal_error(Vec::new()))
    }

    /// Answers `request` with a body sent as it is produced: a watch's
    /// events as they come (the resources function under Lambda response
    /// streaming); any other answer as one chunk.
    pub async fn respond_streaming(
        &self,
        request: http::Request<Bytes>,
        api: Api,
    ) -> http::Response<BodyStream> {
        let (response, request_id) = Box::pin(self.answer(None, request, api)).await;
        let head = head(&response, &request_id);
        let first = futures_util::stream::once(std::future::ready(Bytes::from(response.body)));
        let body: BodyStream = match response.stream {
            Some(rest) => Box::pin(futures_util::StreamExt::chain(first, rest)),
            None => Box::pin(first),
        };
        head.body(body)
            .unwrap_or_else(|_| internal_error(Box::pin(futures_util::stream::empty())))
    }

    /// The answer to `request` and the request's id (logged, and sent back).
    async fn answer(
        &self,
        principal: Option<auth::Principal>,
        request: http::Request<Bytes>,
        api: Api,
    ) -> (Response, String) {
        let request_id = request
            .headers()
            .get("x-request-id")
            .or_else(|| request.headers().get("lambda-runtime-aws-request-id"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let span = tracing::info_span!("request", %request_id, method = %request.method(), path = %request.uri().path());
        let response = async {
            let dispatched = match api {
                Api::Resources => self.dispatch(principal, &request, &request_id).await,
                Api::Admission => self.dispatch_admission(&request, &request_id).await,
            };
            let response = match dispatched {
                Ok(response) => response,
                Err(err) => {
                    let (code, reason) = err.code_and_reason();
                    if code >= 500 {
                        tracing::error!(code, reason, error = %err, "request failed");
                    } else {
                        tracing::info!(code, reason, "request refused");
                    }
                    Response::error(&err)
                }
            };
            tracing::info!(status = response.status, "done");
            response
        }
        .instrument(span)
        .await;
        (response, request_id)
    }

    /// The request's principal, from its bearer token (every path needs one).
    fn authenticate(&self, request: &http::Request<Bytes>) -> Result<auth::Principal, ApiError> {
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        self.verifier
            .verify_bearer(authorization)
            .map_err(errors::from_auth)
    }

    async fn dispatch(
        &self,
        principal: Option<auth::Principal>,
        request: &http::Request<Bytes>,
        request_id: &str,
    ) -> Result<Response, ApiError> {
        let principal = match principal {
            Some(principal) => principal,
            None => self.authenticate(request)?,
        };
        tracing::debug!(principal = %principal, "authenticated");
        if let Some(user_plane) = route::parse_user_plane(request.uri().path()) {
            let (user, target) = user_plane?;
            return user_plane::serve(self, request, principal, request_id, &user, target).await;
        }
        let (context, target) = route::parse(request.uri().path())?;
        let context = route::served_context(context, &target);
        let writes = !matches!(*request.method(), Method::GET | Method::HEAD);
        route::check_names(&context, &target, writes)?;
        refuse_writes_to_documents(request, &target)?;
        let query = codec::Query::parse(request.uri().query())?;
        let mut described = request::RequestInfo::describe(
            request.method(),
            &context,
            &target,
            query.watch,
            principal,
            request_id,
        );
        let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
        described.writer = request::FieldWriter::of(
            query.field_manager.as_deref(),
            header(http::header::USER_AGENT),
            *request.method() == Method::PATCH
                && codec::is_apply(header(http::header::CONTENT_TYPE)),
        );
        // Discovery under a control plane's URL is answered from the URL
        // alone, as Milo's filter: a client reads it before (or without)
        // the organization or project existing. Everything else needs it.
        let context_object = match &target {
            route::Target::Resource(path) => self.read_context(&context, path, &described).await?,
            _ => None,
        };
        self.bootstrapped
            .get_or_try_init(|| bootstrap::run(&self.store))
            .await?;
        // Discovery is read rarely (clients cache it) and right after a type
        // is registered (`kubectl apply` after `kubectl wait`), so it always
        // checks the stamp; other requests re-check on a miss or every
        // refresh interval.
        let catalog = if target.is_discovery() {
            self.catalog.reload_if_changed(&self.store).await?
        } else {
            self.catalog.current(&self.store).await?
        };
        tracing::info!(
            principal = %described.principal,
            verb = described.verb.as_str(),
            context = ?described.context,
            resource = described.resource.as_ref().map(|r| r.plural.as_str()),
            name = described.resource.as_ref().and_then(|r| r.name.as_deref()),
            "serving"
        );
        let call = Call {
            method: request.method(),
            headers: request.headers(),
            body: request.body(),
            query,
            request: described,
            context_object,
            notices: recorder::Notices::default(),
        };
        match target {
            route::Target::Resource(path) => {
                let answer = resources::serve(self, catalog, &context, &path, &call).await;
                self.record_request(&call, &answer).await;
                answer
            }
            target => documents(&catalog, route::context_kind(&context), target),
        }
    }

    async fn dispatch_admission(
        &self,
        request: &http::Request<Bytes>,
        request_id: &str,
    ) -> Result<Response, ApiError> {
        let principal = self.authenticate(request)?;
        let catalog = self.catalog.current(&self.store).await?;
        let call = Call {
            method: request.method(),
            headers: request.headers(),
            body: request.body(),
            query: codec::Query::parse(request.uri().query())?,
            request: request::RequestInfo::of_function_path(
                request.method(),
                principal,
                request_id,
            ),
            context_object: None,
            notices: recorder::Notices::default(),
        };
        admission_api::serve(self, request.uri().path(), &call, &catalog).await
    }

    /// Admission alone, as an AdmissionReview asks (the admission
    /// function's entry): the request's mutations, then validation of the
    /// mutated object, against this instance's policies (fresh within the
    /// refresh interval), params read from the table. Nothing is written.
    /// The caller supplies `namespaceObject` and context labels if its
    /// policies select on them.
    pub async fn review_admission(
        &self,
        request: &domain::admission::AdmissionRequest,
    ) -> Result<admission::Review, ApiError> {
        let catalog = self.catalog.current(&self.store).await?;
        self.admission.review(&self.store, &catalog, request).await
    }

    /// The organization or project a context is (none for the platform);
    /// a context exists when it does. One the principal may not act in is
    /// refused as an existing one is (403), so a refusal never tells
    /// whether another tenant's organization or project exists.
    async fn read_context(
        &self,
        context: &Context,
        path: &route::ResourcePath,
        request: &request::RequestInfo,
    ) -> Result<Option<store::Stored>, ApiError> {
        let (kind, name) = match context {
            Context::Platform => return Ok(None),
            Context::Organization(org) => (&domain::kinds::ORGANIZATION, org),
            Context::Project(project) => (&domain::kinds::PROJECT, project),
        };
        let key = placement::builtin_ref(&Context::Platform, kind, "", name).key();
        match self.store.get(&key).await.map_err(errors::from_store)? {
            Some(stored) => Ok(Some(stored)),
            None => {
                let question =
                    authorization::Question::of(request, context, path, &path.plural, None);
                authorization::authorize(self, request, question).await?;
                Err(ApiError::not_found(kind.group, kind.plural, name))
            }
        }
    }
}

/// Discovery and OpenAPI documents take GET alone (405 otherwise).
pub(crate) fn refuse_writes_to_documents(
    request: &http::Request<Bytes>,
    target: &route::Target,
) -> Result<(), ApiError> {
    if matches!(target, route::Target::Resource(_)) || request.method() == Method::GET {
        return Ok(());
    }
    Err(ApiError::MethodNotAllowed {
        message: format!(
            "{} is not allowed on {}: discovery and OpenAPI documents are read-only",
            request.method(),
            request.uri().path()
        ),
    })
}

/// The version, discovery and OpenAPI documents of a context.
pub(crate) fn documents(
    catalog: &domain::catalog::Catalog,
    kind: domain::kinds::ContextKind,
    target: route::Target,
) -> Result<Response, ApiError> {
    let found = |doc: Option<serde_json::Value>| {
        doc.map(|d| Response::json(200, &d)).ok_or_else(|| {
            ApiError::path_not_found("the server could not find the requested resource")
        })
    };
    match target {
        route::Target::Version => Ok(Response::json(200, &discovery::version())),
        route::Target::CoreVersions => Ok(Response::json(
            200,
            &discovery::core_versions(catalog, kind),
        )),
        route::Target::CoreResources => found(discovery::group_resources(catalog, kind, "", "v1")),
        route::Target::Groups => Ok(Response::json(200, &discovery::groups(catalog, kind))),
        route::Target::Group(group) => found(discovery::group(catalog, kind, &group)),
        route::Target::GroupResources { group, version } => {
            found(discovery::group_resources(catalog, kind, &group, &version))
        }
        route::Target::OpenApiV2 => Ok(openapi::legacy_v2()),
        route::Target::OpenApiRoot => Ok(Response::json(200, &openapi::root(catalog, kind))),
        route::Target::OpenApiGroupVersion { group, version } => {
            found(openapi::group_version(catalog, kind, &group, &version))
        }
        route::Target::Resource(path) => Err(ApiError::path_not_found(format!(
            "the server could not find the requested resource ({}/{})",
            path.group, path.plural
        ))),
    }
}

/// A streamed body read to its end (a watch, answered to a caller that
/// takes whole bodies: the tests, with `timeoutSeconds`).
async fn collected(mut response: Response) -> Response {
    if let Some(mut stream) = response.stream.take() {
        while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
            response.body.extend_from_slice(&chunk);
        }
    }
    response
}

/// The status and headers of `response`.
fn head(response: &Response, request_id: &str) -> http::response::Builder {
    let mut builder = http::Response::builder()
        .status(response.status)
        .header("x-request-id", request_id);
    for (name, value) in &response.headers {
        builder = builder.header(name, value);
    }
    builder
}

/// What is sent when a response cannot be built: only a header value with
/// control characters can make that happen; the headers are dropped.
fn internal_error<B>(body: B) -> http::Response<B> {
    let mut fallback = http::Response::new(body);
    *fallback.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    fallback
}
