//! Lists: paging, label selectors (the whole grammar), field selectors, Tables.

mod common;
use common::*;
use serde_json::json;

/// Five projects with labels env and tier (p4 has no tier).
async fn labelled() -> Api {
    let api = api().await;
    api.org("acme").await;
    api.org("other").await;
    let labels = [
        ("p0", "prod", Some("gold")),
        ("p1", "prod", Some("silver")),
        ("p2", "dev", Some("gold")),
        ("p3", "test", Some("bronze")),
        ("p4", "dev", None),
    ];
    for (name, env, tier) in labels {
        let mut body = project(
            name,
            "Organization",
            if name == "p3" { "other" } else { "acme" },
        );
        body["metadata"]["labels"] = json!({"env": env});
        if let Some(tier) = tier {
            body["metadata"]["labels"]["tier"] = json!(tier);
        }
        let r = api.post(&format!("{G}/projects"), body).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    api
}

async fn select(api: &Api, selector: &str) -> Vec<String> {
    let encoded: String = selector
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let r = api
        .get(&format!("{G}/projects?labelSelector={encoded}"))
        .await;
    assert_eq!(r.status, 200, "{selector}: {}", r.body);
    names(&r.body)
}

#[tokio::test]
async fn label_selectors_cover_the_whole_grammar() {
    let api = labelled().await;
    assert_eq!(select(&api, "env=prod").await, ["p0", "p1"]);
    assert_eq!(select(&api, "env==prod").await, ["p0", "p1"]);
    assert_eq!(select(&api, "env!=prod").await, ["p2", "p3", "p4"]);
    assert_eq!(select(&api, "env in (dev,test)").await, ["p2", "p4", "p3"]);
    assert_eq!(select(&api, "env notin (dev,test)").await, ["p0", "p1"]);
    assert_eq!(select(&api, "tier").await, ["p3", "p0", "p2", "p1"]);
    assert_eq!(select(&api, "!tier").await, ["p4"]);
    assert_eq!(select(&api, "env=prod,tier=gold").await, ["p0"]);
    assert_eq!(select(&api, "env=dev,!tier").await, ["p4"]);
    assert_eq!(select(&api, "env=nothing").await, Vec::<String>::new());
    let r = api
        .get(&format!("{G}/projects?labelSelector=env%20in%20("))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("labelSelector"));
}

#[tokio::test]
async fn labels_are_served_from_index_items_that_follow_changes() {
    let api = labelled().await;
    let r = api
        .call(
            "PATCH",
            &format!("{G}/projects/p0"),
            Some(json!({"metadata": {"labels": {"env": "dev"}}})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(select(&api, "env=prod").await, ["p1"]);
    assert_eq!(select(&api, "env=dev").await, ["p0", "p2", "p4"]);
    api.call("DELETE", &format!("{G}/projects/p2"), None).await;
    assert_eq!(select(&api, "env=dev").await, ["p0", "p4"]);
}

#[tokio::test]
async fn field_selectors_filter_by_name_and_spec_fields() {
    let api = labelled().await;
    let r = api
        .get(&format!(
            "{G}/projects?fieldSelector=spec.ownerRef.name%3Dother"
        ))
        .await;
    assert_eq!(names(&r.body), ["p3"]);
    let r = api
        .get(&format!("{G}/projects?fieldSelector=metadata.name%3Dp1"))
        .await;
    assert_eq!(names(&r.body), ["p1"]);
    let r = api
        .get(&format!(
            "{G}/projects?fieldSelector=metadata.name!%3Dp1,spec.ownerRef.kind%3DOrganization"
        ))
        .await;
    assert_eq!(names(&r.body), ["p0", "p2", "p3", "p4"]);
    let r = api
        .get(&format!(
            "{G}/organizations?fieldSelector=spec.type%3DStandard"
        ))
        .await;
    assert_eq!(names(&r.body), ["acme", "other"]);
    let r = api
        .get(&format!("{G}/projects?fieldSelector=spec.secret%3Dx"))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("field label not supported"));
}

#[tokio::test]
async fn lists_page_with_limit_and_continue() {
    let api = labelled().await;
    let mut seen = Vec::new();
    let mut uri = format!("{G}/projects?limit=2");
    loop {
        let r = api.get(&uri).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let page = names(&r.body);
        assert!(page.len() <= 2);
        seen.extend(page);
        match r.body["metadata"]["continue"].as_str() {
            Some(token) => uri = format!("{G}/projects?limit=2&continue={token}"),
            None => break,
        }
    }
    assert_eq!(seen, ["p0", "p1", "p2", "p3", "p4"]);

    // Paging through an index with several values.
    let mut seen = Vec::new();
    let mut uri = format!("{G}/projects?limit=1&labelSelector=env%20in%20(dev,prod)");
    loop {
        let r = api.get(&uri).await;
        seen.extend(names(&r.body));
        match r.body["metadata"]["continue"].as_str() {
            Some(token) => {
                uri = format!(
                    "{G}/projects?limit=1&labelSelector=env%20in%20(dev,prod)&continue={token}"
                )
            }
            None => break,
        }
    }
    assert_eq!(seen, ["p2", "p4", "p0", "p1"]);
}

#[tokio::test]
async fn a_tampered_or_foreign_continue_token_is_refused() {
    let api = labelled().await;
    let r = api.get(&format!("{G}/projects?limit=2")).await;
    let token = r.body["metadata"]["continue"].as_str().unwrap().to_string();
    let mut tampered = token.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let r = api
        .get(&format!("{G}/projects?limit=2&continue={tampered}"))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("continue token"));
    let r = api
        .get(&format!(
            "{G}/projects?limit=2&labelSelector=env%3Ddev&continue={token}"
        ))
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn tables_have_readable_columns() {
    let api = labelled().await;
    let req = http::Request::builder()
        .uri(format!("{G}/projects"))
        .header("authorization", format!("Bearer {}", api.token))
        .header(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .body(bytes::Bytes::new())
        .unwrap();
    let resp = api.server.handle(req).await;
    let table: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(table["kind"], "Table");
    let columns: Vec<_> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["Name", "Owner Kind", "Owner", "Ready", "Age"]);
    assert_eq!(table["rows"][0]["cells"][0], "p0");
    assert_eq!(table["rows"][0]["cells"][2], "acme");
    assert_eq!(table["rows"][0]["cells"][3], "True");
}
