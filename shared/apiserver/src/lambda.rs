//! The Lambda entry point both HTTP functions (`resources`, `admission`)
//! run: one [`ApiServer`] per instance, each invocation's HTTP request
//! handed to it as an `http::Request`.

use lambda_http::{service_fn, Body, Error, Request, Response};

use crate::{Api, ApiServer};

/// Serves `api` until the Lambda runtime stops: JSON logs (filtered by
/// `RUST_LOG`), the server built from the environment
/// ([`ApiServer::from_env`]).
pub async fn serve(api: Api) -> Result<(), Error> {
    init_logs();
    let server = ApiServer::from_env().await?;
    let server = &server;
    match api {
        // Watches answer as their events come: the function URL's
        // RESPONSE_STREAM mode (infra/template.yaml).
        Api::Resources => {
            lambda_http::run_with_streaming_response(service_fn(
                move |request: Request| async move {
                    // Boxed: the pipeline's future is deep, and unboxed it
                    // exceeds the compiler's layout depth in the function's crate.
                    Ok::<_, Error>(Box::pin(handle_streaming(server, api, request)).await)
                },
            ))
            .await
        }
        Api::Admission => {
            lambda_http::run(service_fn(move |request: Request| async move {
                Ok::<_, Error>(handle(server, api, request).await)
            }))
            .await
        }
    }
}

type StreamedBody = http_body_util::StreamBody<
    futures_util::stream::Map<
        crate::BodyStream,
        fn(bytes::Bytes) -> Result<http_body::Frame<bytes::Bytes>, std::convert::Infallible>,
    >,
>;

async fn handle_streaming(
    server: &ApiServer,
    api: Api,
    request: Request,
) -> Response<StreamedBody> {
    let (parts, body) = request.into_parts();
    let request = http::Request::from_parts(parts, bytes::Bytes::from(body.to_vec()));
    let response = server.respond_streaming(request, api).await;
    let frame: fn(
        bytes::Bytes,
    ) -> Result<http_body::Frame<bytes::Bytes>, std::convert::Infallible> =
        |chunk| Ok(http_body::Frame::data(chunk));
    response
        .map(|chunks| http_body_util::StreamBody::new(futures_util::StreamExt::map(chunks, frame)))
}

/// Every function's logs: JSON lines with the current span (the request
/// id), filtered by `RUST_LOG`, without time (CloudWatch stamps each).
pub fn init_logs() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_current_span(true)
        .without_time()
        .init();
}

async fn handle(server: &ApiServer, api: Api, request: Request) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let response = server
        .respond(
            http::Request::from_parts(parts, bytes::Bytes::from(body.to_vec())),
            api,
        )
        .await;
    // JSON goes back as text; a body that is not UTF-8 (none today) as
    // binary, which the Lambda response base64-encodes.
    response.map(|bytes| match String::from_utf8(bytes) {
        Ok(text) => Body::Text(text),
        Err(not_text) => Body::Binary(not_text.into_bytes()),
    })
}
