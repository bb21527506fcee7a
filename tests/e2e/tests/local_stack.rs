//! The local stack itself, as a `make dev` user meets it: every answer under
//! concurrent load is the platform's own, and a body the platform must refuse
//! reaches the platform.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use e2e::{unique, Stack};
use serde_json::{json, Value};

const G: &str = "/apis/resourcemanager.miloapis.com/v1alpha1";
/// Bounded: 10,000 requests, 16 at a time, loopback only.
const REQUESTS: usize = 10_000;
const CONCURRENCY: usize = 16;
/// Projects in the organization listed: lists of them run to about 30 KB,
/// answers larger than one read of a socket (`cargo lambda watch` lost such
/// answers when the function's client closed that connection early).
const PROJECTS: usize = 40;
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

/// What one answer was, kept for the failure message.
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

async fn send(http: &reqwest::Client, req: reqwest::RequestBuilder) -> Answer {
    let resp = http
        .execute(req.build().expect("request builds"))
        .await
        .expect("the stack answers");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = resp.text().await.unwrap_or_default();
    Answer {
        status,
        content_type,
        body,
    }
}

fn clients(stack: &Stack) -> (reqwest::Client, reqwest::Client) {
    let plain = reqwest::Client::new();
    let ca = std::fs::read(&stack.kube_ca_file).expect("the stack's CA");
    let tls = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA in PEM"))
        .build()
        .expect("TLS client");
    (plain, tls)
}

/// 10,000 gets and lists (JSON and kubectl's Table), 16 at a time, half over
/// plain HTTP and half over HTTPS (kubectl's way in), at the root and under
/// `/lambda-url/resources`: none may answer 500, and every answer must be the
/// platform's (JSON, and a Status when it is an error).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_concurrent_requests_get_the_platforms_answers() {
    let stack = Arc::new(Stack::from_env());
    let (plain, tls) = clients(&stack);
    let org = unique("load");
    let created = send(
        &plain,
        plain
            .post(format!("{}{G}/organizations", stack.base_url))
            .bearer_auth(&stack.token)
            .json(&json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Organization",
                "metadata": {"name": org}, "spec": {"type": "Standard"}})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    for i in 0..PROJECTS {
        let project = send(
            &plain,
            plain
                .post(format!("{}{G}/projects", stack.base_url))
                .bearer_auth(&stack.token)
                .json(&json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project",
                    "metadata": {"name": format!("{org}-{i}")},
                    "spec": {"ownerRef": {"kind": "Organization", "name": org}}})),
        )
        .await;
        assert_eq!(project.status, 201, "{}", project.body);
    }

    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for worker in 0..CONCURRENCY {
        let (stack, next, org) = (stack.clone(), next.clone(), org.clone());
        let (http, base) = if worker % 2 == 0 {
            (plain.clone(), stack.base_url.clone())
        } else {
            (tls.clone(), stack.kube_server.clone())
        };
        workers.push(tokio::spawn(async move {
            let mut wrong = Vec::new();
            let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= REQUESTS {
                    break;
                }
                let (url, accept) = match i % 4 {
                    0 => (format!("{base}{G}/organizations/{org}"), "application/json"),
                    1 => (format!("{base}{G}/projects?labelSelector=resourcemanager.miloapis.com/organization-name={org}"), "application/json"),
                    2 => (format!("{base}{G}/organizations/{org}/control-plane{G}/projects"), TABLE),
                    _ => (format!("{base}/lambda-url/resources{G}/projects?labelSelector=resourcemanager.miloapis.com/organization-name={org}&limit=25"), "application/json"),
                };
                let answer = send(
                    &http,
                    http.get(url)
                        .bearer_auth(&stack.token)
                        .header("accept", accept),
                )
                .await;
                *statuses.entry(answer.status).or_default() += 1;
                let platforms = answer.content_type.starts_with("application/json")
                    && serde_json::from_str::<Value>(&answer.body).is_ok_and(|v| {
                        answer.status < 400 || v["kind"] == "Status"
                    });
                if answer.status >= 500 || !platforms {
                    wrong.push(format!(
                        "{} {}: {}",
                        answer.status, answer.content_type, answer.body
                    ));
                }
            }
            (statuses, wrong)
        }));
    }
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut wrong = Vec::new();
    for worker in workers {
        let (s, w) = worker.await.expect("worker ran");
        for (status, n) in s {
            *statuses.entry(status).or_default() += n;
        }
        wrong.extend(w);
    }
    let total: usize = statuses.values().sum();
    eprintln!("{total} requests at concurrency {CONCURRENCY}: statuses {statuses:?}, not the platform's answer: {}", wrong.len());
    assert_eq!(total, REQUESTS);
    assert!(
        wrong.is_empty(),
        "{} of {total} answers were not the platform's (statuses {statuses:?}); first: {:?}",
        wrong.len(),
        wrong.iter().take(3).collect::<Vec<_>>()
    );
}

/// A JSON body with a byte that is not UTF-8 is the platform's to refuse: a
/// Kubernetes Status 400, as JSON, over both ways in.
#[tokio::test]
async fn a_body_that_is_not_utf8_gets_the_platforms_400() {
    let stack = Stack::from_env();
    let (plain, tls) = clients(&stack);
    for (http, base) in [(&plain, &stack.base_url), (&tls, &stack.kube_server)] {
        let mut body = br#"{"apiVersion":"resourcemanager.miloapis.com/v1alpha1","kind":"Organization","metadata":{"name":"x"#.to_vec();
        body.push(0xff);
        body.extend_from_slice(br#""},"spec":{"type":"Standard"}}"#);
        let answer = send(
            http,
            http.post(format!("{base}{G}/organizations"))
                .bearer_auth(&stack.token)
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
        assert_eq!(answer.status, 400, "{base}: {}", answer.body);
        assert!(
            answer.content_type.starts_with("application/json"),
            "{base}: {}",
            answer.content_type
        );
        let status: Value = serde_json::from_str(&answer.body).expect("a JSON body");
        assert_eq!(status["kind"], "Status", "{}", answer.body);
        assert_eq!(status["code"], 400, "{}", answer.body);
        assert_eq!(status["reason"], "BadRequest", "{}", answer.body);
    }
}

/// Every served function answers under `/lambda-url/{function}/` as well
/// (the addresses used before the API moved to the root); a function that is
/// not served is a 404 of the emulator's.
#[tokio::test]
async fn functions_answer_under_their_lambda_url_prefix() {
    let stack = Stack::from_env();
    let (plain, _) = clients(&stack);
    let version = send(
        &plain,
        plain
            .get(format!("{}/lambda-url/resources/version", stack.base_url))
            .bearer_auth(&stack.token),
    )
    .await;
    assert_eq!(version.status, 200, "{}", version.body);
    assert!(version.body.contains("gitVersion"), "{}", version.body);

    let review = send(
        &plain,
        plain
            .post(format!("{}/lambda-url/admission/review", stack.base_url))
            .bearer_auth(&stack.token)
            .header("content-type", "application/json")
            .body("{}"),
    )
    .await;
    assert!(
        review.content_type.starts_with("application/json") && review.status < 500,
        "{} {}",
        review.status,
        review.body
    );

    let missing = send(
        &plain,
        plain.get(format!("{}/lambda-url/no-such-function/x", stack.base_url)),
    )
    .await;
    assert_eq!(missing.status, 404, "{}", missing.body);
}
