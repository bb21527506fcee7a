//! What a Lambda function URL does with an HTTP request, pure: which
//! function it is for, the invocation event (payload format 2.0) it becomes,
//! and the HTTP response the function's answer turns back into.

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use serde_json::{json, Map, Value};

/// The prefix `cargo lambda watch` gave every function's URL, kept so the
/// addresses written before (`/lambda-url/admission/audit`, ...) still work.
const FUNCTION_PREFIX: &str = "/lambda-url/";

/// Which function a request path is for, and the path that function sees:
/// `/lambda-url/{function}/rest` is `rest` of `{function}`; every other path
/// is the root function's own, as under its own URL on AWS.
pub fn route<'a>(path: &'a str, root_function: &'a str) -> (&'a str, String) {
    match path.strip_prefix(FUNCTION_PREFIX) {
        Some(rest) => match rest.split_once('/') {
            Some((function, tail)) => (function, format!("/{tail}")),
            None => (rest, "/".to_owned()),
        },
        None => (root_function, path.to_owned()),
    }
}

/// What the event says about the HTTP request beyond its head and body.
pub struct Origin<'a> {
    pub request_id: &'a str,
    pub function: &'a str,
    pub source_ip: String,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// The invocation event AWS sends for a function URL request (payload
/// format 2.0): headers lower-cased with repeated ones joined by commas,
/// cookies apart, and the body as text only when it is text (a textual
/// content type and valid UTF-8), base64 otherwise, so no byte is lost or
/// refused before the function sees it.
pub fn event(
    parts: &http::request::Parts,
    raw_path: &str,
    body: &[u8],
    origin: &Origin<'_>,
) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for name in parts.headers.keys() {
        let values: Vec<&str> = parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if name == http::header::COOKIE {
            cookies.extend(
                values
                    .iter()
                    .flat_map(|v| v.split(';'))
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
            );
        } else if !values.is_empty() {
            headers.insert(name.as_str().to_owned(), Value::from(values.join(",")));
        }
    }
    let raw_query = parts.uri.query().unwrap_or_default();
    let mut query = Map::new();
    for (key, value) in form_pairs(raw_query) {
        match query.get_mut(&key) {
            Some(Value::String(joined)) => {
                joined.push(',');
                joined.push_str(&value);
            }
            _ => {
                query.insert(key, Value::from(value));
            }
        }
    }
    let text = std::str::from_utf8(body)
        .ok()
        .filter(|_| is_textual(&parts.headers));
    let (body, base64_encoded) = match (body.is_empty(), text) {
        (true, _) => (Value::Null, false),
        (false, Some(text)) => (Value::from(text), false),
        (false, None) => (
            Value::from(base64::engine::general_purpose::STANDARD.encode(body)),
            true,
        ),
    };
    let user_agent = parts
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let domain = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": origin.function,
            "domainName": domain,
            "domainPrefix": origin.function,
            "http": {
                "method": parts.method.as_str(),
                "path": raw_path,
                "protocol": format!("{:?}", parts.version),
                "sourceIp": origin.source_ip,
                "userAgent": user_agent,
            },
            "requestId": origin.request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": origin.now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": origin.now.timestamp_millis(),
        },
        "isBase64Encoded": base64_encoded,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !body.is_null() {
        event["body"] = body;
    }
    event
}

/// Content types a function URL passes as text; everything else is binary.
fn is_textual(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return true;
    };
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    media.starts_with("text/")
        || ["json", "xml", "yaml", "javascript", "x-www-form-urlencoded"]
            .iter()
            .any(|kind| media.contains(kind))
}

/// `a=1&b=x%20y` as decoded pairs (`+` is a space, as in forms).
fn form_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode_component(key), decode_component(value))
    })
}

fn decode_component(s: &str) -> String {
    let spaced = s.replace('+', " ");
    let bytes = spaced.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a function's answer could not be turned into an HTTP response.
#[derive(Debug, thiserror::Error)]
pub enum BadAnswer {
    #[error("the function's answer is not a function URL response: {0}")]
    NotAResponse(String),
}

/// The HTTP response a function's answer (its invocation result) stands for.
/// A bare JSON value that is not a response object is sent as it is, with
/// status 200, as function URLs do.
pub fn response(answer: &[u8]) -> Result<Response<Bytes>, BadAnswer> {
    let value: Value =
        serde_json::from_slice(answer).map_err(|e| BadAnswer::NotAResponse(e.to_string()))?;
    let Some(object) = value.as_object().filter(|o| o.contains_key("statusCode")) else {
        return Ok(json_response(
            StatusCode::OK,
            Bytes::copy_from_slice(answer),
        ));
    };
    let status = object
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|code| u16::try_from(code).ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| BadAnswer::NotAResponse("statusCode is not an HTTP status".into()))?;
    let body = match object.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(text)) => {
            if object
                .get("isBase64Encoded")
                .and_then(Value::as_bool)
                .unwrap_or(false)
            {
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map(Bytes::from)
                    .map_err(|e| BadAnswer::NotAResponse(format!("body: {e}")))?
            } else {
                Bytes::from(text.clone())
            }
        }
        Some(_) => return Err(BadAnswer::NotAResponse("body is not a string".into())),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let single = object.get("headers").and_then(Value::as_object);
    for (name, value) in single.into_iter().flatten() {
        if let Some(value) = value.as_str() {
            append(headers, name, value)?;
        }
    }
    let multi = object.get("multiValueHeaders").and_then(Value::as_object);
    for (name, values) in multi.into_iter().flatten() {
        for value in values
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            append(headers, name, value)?;
        }
    }
    let cookies = object.get("cookies").and_then(Value::as_array);
    for cookie in cookies.into_iter().flatten().filter_map(Value::as_str) {
        append(headers, "set-cookie", cookie)?;
    }
    if !headers.contains_key(http::header::CONTENT_TYPE) {
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    Ok(response)
}

/// What ends a streamed answer's prelude (Lambda response streaming).
pub const PRELUDE_END: [u8; 8] = [0; 8];

/// Where the prelude ends in what has arrived of a streamed answer: the
/// prelude, and what follows its delimiter.
pub fn split_prelude(arrived: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = arrived
        .windows(PRELUDE_END.len())
        .position(|window| window == PRELUDE_END)?;
    Some((&arrived[..at], &arrived[at + PRELUDE_END.len()..]))
}

/// The status and headers a streamed answer's prelude gives
/// (`{"statusCode", "headers", "cookies"}`; a header may hold a list).
pub fn streamed_head(prelude: &[u8]) -> Result<Response<()>, BadAnswer> {
    let value: Value = serde_json::from_slice(prelude)
        .map_err(|e| BadAnswer::NotAResponse(format!("prelude: {e}")))?;
    let status = value
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|code| u16::try_from(code).ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| {
            BadAnswer::NotAResponse("prelude: statusCode is not an HTTP status".into())
        })?;
    let mut response = Response::new(());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let given = value.get("headers").and_then(Value::as_object);
    for (name, values) in given.into_iter().flatten() {
        let values = match values {
            Value::Array(values) => values.iter().filter_map(Value::as_str).collect(),
            value => value.as_str().into_iter().collect::<Vec<_>>(),
        };
        for value in values {
            append(headers, name, value)?;
        }
    }
    let cookies = value.get("cookies").and_then(Value::as_array);
    for cookie in cookies.into_iter().flatten().filter_map(Value::as_str) {
        append(headers, "set-cookie", cookie)?;
    }
    Ok(response)
}

/// Headers that describe the connection or the framing, which the server
/// sets itself (function URLs remap the function's own).
const FRAMING: &[&str] = &[
    "connection",
    "content-length",
    "keep-alive",
    "transfer-encoding",
];

fn append(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), BadAnswer> {
    if FRAMING.iter().any(|f| name.eq_ignore_ascii_case(f)) {
        return Ok(());
    }
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|e| BadAnswer::NotAResponse(format!("header {name:?}: {e}")))?;
    let value = HeaderValue::from_str(value)
        .map_err(|e| BadAnswer::NotAResponse(format!("header {name}: {e}")))?;
    headers.append(name, value);
    Ok(())
}

pub fn json_response(status: StatusCode, body: Bytes) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_streamed_answers_prelude_gives_its_status_and_headers() {
        let mut arrived = br#"{"statusCode":200,"headers":{"content-type":"application/json","warning":["299 - \"a\"","299 - \"b\""]},"cookies":[]}"#.to_vec();
        arrived.extend_from_slice(&super::PRELUDE_END);
        arrived.extend_from_slice(b"{\"type\":");
        let (prelude, rest) = super::split_prelude(&arrived).unwrap();
        assert_eq!(rest, b"{\"type\":");
        let head = super::streamed_head(prelude).unwrap();
        assert_eq!(head.status(), 200);
        assert_eq!(head.headers()["content-type"], "application/json");
        assert_eq!(head.headers().get_all("warning").iter().count(), 2);
        assert!(super::split_prelude(b"{\"statusCode\":200}").is_none());
        assert!(super::streamed_head(b"{}").is_err());
    }

    use super::*;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut builder = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn origin() -> Origin<'static> {
        Origin {
            request_id: "req-1",
            function: "resources",
            source_ip: "127.0.0.1".into(),
            now: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        }
    }

    /// What lambda_http (the functions' own decoder) makes of an event.
    fn as_the_function_sees_it(event: &Value) -> http::Request<lambda_http::Body> {
        lambda_http::request::from_str(&event.to_string()).expect("lambda_http decodes the event")
    }

    #[test]
    fn paths_route_to_the_root_function_or_a_named_one() {
        assert_eq!(
            route("/apis/x/v1/things", "resources"),
            ("resources", "/apis/x/v1/things".into())
        );
        assert_eq!(
            route("/lambda-url/admission/audit", "resources"),
            ("admission", "/audit".into())
        );
        assert_eq!(
            route("/lambda-url/resources", "resources"),
            ("resources", "/".into())
        );
        assert_eq!(
            route("/lambda-url/resources/", "resources"),
            ("resources", "/".into())
        );
    }

    #[test]
    fn the_function_sees_the_request_as_it_was_sent() {
        let parts = parts(
            "PATCH",
            "/lambda-url/resources/apis/g/v1/things/a?labelSelector=a%3Db&limit=2&x=1&x=2",
            &[
                ("host", "127.0.0.1:9001"),
                ("content-type", "application/merge-patch+json"),
                ("accept", "application/json"),
                ("accept", "application/yaml"),
                ("cookie", "a=1; b=2"),
            ],
        );
        let event = event(&parts, "/apis/g/v1/things/a", br#"{"a":"b"}"#, &origin());
        assert_eq!(event["queryStringParameters"]["x"], "1,2");
        assert_eq!(event["queryStringParameters"]["labelSelector"], "a=b");
        let seen = as_the_function_sees_it(&event);
        assert_eq!(seen.method(), "PATCH");
        assert_eq!(seen.uri().path(), "/apis/g/v1/things/a");
        assert_eq!(
            seen.uri().query(),
            Some("labelSelector=a%3Db&limit=2&x=1&x=2")
        );
        assert_eq!(
            seen.headers()["accept"],
            "application/json,application/yaml"
        );
        assert_eq!(seen.headers()["cookie"], "a=1; b=2");
        assert_eq!(seen.body().as_ref(), br#"{"a":"b"}"#);
    }

    #[test]
    fn a_body_that_is_not_utf8_reaches_the_function_byte_for_byte() {
        let parts = parts(
            "POST",
            "/apis/g/v1/things",
            &[("host", "h"), ("content-type", "application/json")],
        );
        let body = b"{\"name\":\"x\xff\"}";
        let event = event(&parts, "/apis/g/v1/things", body, &origin());
        assert_eq!(event["isBase64Encoded"], true);
        let seen = as_the_function_sees_it(&event);
        assert_eq!(seen.body().as_ref(), body);
    }

    #[test]
    fn binary_content_is_base64_and_no_body_is_none() {
        let binary = parts(
            "POST",
            "/x",
            &[("host", "h"), ("content-type", "application/octet-stream")],
        );
        let event_with_bytes = event(&binary, "/x", b"abc", &origin());
        assert_eq!(event_with_bytes["isBase64Encoded"], true);
        assert_eq!(
            as_the_function_sees_it(&event_with_bytes).body().as_ref(),
            b"abc"
        );
        let empty = event(&parts("GET", "/x", &[("host", "h")]), "/x", b"", &origin());
        assert!(empty.get("body").is_none());
        assert!(as_the_function_sees_it(&empty).body().is_empty());
    }

    #[test]
    fn a_function_url_response_becomes_the_http_response() {
        let answer = json!({
            "statusCode": 404,
            "headers": {"content-type": "application/json", "warning": "299 - \"a\"", "content-length": "1"},
            "multiValueHeaders": {"x-many": ["1", "2"]},
            "cookies": ["c=1"],
            "body": "{\"kind\":\"Status\"}",
            "isBase64Encoded": false
        });
        let response = response(answer.to_string().as_bytes()).unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["warning"], "299 - \"a\"");
        assert_eq!(response.headers().get_all("x-many").iter().count(), 2);
        assert_eq!(response.headers()["set-cookie"], "c=1");
        assert!(response.headers().get("content-length").is_none());
        assert_eq!(response.body().as_ref(), b"{\"kind\":\"Status\"}");

        let binary = json!({"statusCode": 200, "body": "AAE=", "isBase64Encoded": true});
        let response = super::response(binary.to_string().as_bytes()).unwrap();
        assert_eq!(response.body().as_ref(), &[0u8, 1]);
        assert_eq!(response.headers()["content-type"], "application/json");

        assert!(super::response(b"not json").is_err());
        let bad_status = json!({"statusCode": 1000});
        assert!(super::response(bad_status.to_string().as_bytes()).is_err());
    }

    #[test]
    fn what_lambda_http_answers_decodes() {
        use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse;
        let mut answer = ApiGatewayV2httpResponse::default();
        answer.status_code = 201;
        answer
            .headers
            .insert("content-type", HeaderValue::from_static("application/json"));
        answer.cookies = vec!["s=1".into()];
        answer.body = Some(lambda_http::Body::Text("{}".into()));
        let response = response(&serde_json::to_vec(&answer).unwrap()).unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["set-cookie"], "s=1");
        assert_eq!(response.body().as_ref(), b"{}");
    }
}
