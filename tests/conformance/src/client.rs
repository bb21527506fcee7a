//! A Kubernetes client for one cluster of a suite, built from its
//! kubeconfig as client-go would: the server URL (an organization's or
//! project's control-plane prefix included) and the bearer token. Kinds are
//! mapped to resources through discovery, cached and read again on a miss
//! (a CRD registered during the test).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use reqwest::Method;
use serde_json::{json, Value};

use crate::resources::{self, group_version};

/// A failed call, as client-go reports it: the Status message when the
/// server sent a Status.
#[derive(Debug, Clone)]
pub struct ClientError {
    /// HTTP status, 0 when the call never got an answer.
    pub code: u16,
    /// The Status reason (`NotFound`, `AlreadyExists`, `Conflict`...), if any.
    pub reason: String,
    pub message: String,
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl ClientError {
    pub fn other(message: impl Into<String>) -> Self {
        Self {
            code: 0,
            reason: String::new(),
            message: message.into(),
        }
    }
    pub fn is_not_found(&self) -> bool {
        self.code == 404
    }
    /// What Chainsaw's create, patch and update retry on: conflicts, server
    /// timeouts, throttling, unavailability.
    pub fn is_retryable(&self) -> bool {
        (self.code == 409 && self.reason == "Conflict")
            || self.code == 429
            || self.code == 503
            || self.code == 504
            || self.reason == "ServerTimeout"
    }
}

/// A kubeconfig's current context, reduced to what the suites use.
#[derive(Debug, Clone, PartialEq)]
pub struct Kubeconfig {
    pub server: String,
    pub token: String,
}

pub fn read_kubeconfig(path: &Path, context: Option<&str>) -> Result<Kubeconfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading kubeconfig {}: {e}", path.display()))?;
    let doc: Value =
        serde_yaml::from_str(&text).map_err(|e| format!("kubeconfig {}: {e}", path.display()))?;
    let find = |list: &str, name: &str| -> Option<Value> {
        doc.get(list)?
            .as_array()?
            .iter()
            .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
            .cloned()
    };
    let context_name = context
        .map(str::to_owned)
        .or_else(|| doc["current-context"].as_str().map(str::to_owned))
        .ok_or_else(|| format!("kubeconfig {} has no current-context", path.display()))?;
    let ctx = find("contexts", &context_name)
        .ok_or_else(|| format!("kubeconfig {}: no context {context_name}", path.display()))?;
    let cluster_name = ctx["context"]["cluster"].as_str().unwrap_or_default();
    let user_name = ctx["context"]["user"].as_str().unwrap_or_default();
    let cluster = find("clusters", cluster_name)
        .ok_or_else(|| format!("kubeconfig {}: no cluster {cluster_name}", path.display()))?;
    let server = cluster["cluster"]["server"]
        .as_str()
        .ok_or_else(|| format!("kubeconfig {}: cluster without server", path.display()))?;
    let token = find("users", user_name)
        .and_then(|u| u["user"]["token"].as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok(Kubeconfig {
        server: server.trim_end_matches('/').to_string(),
        token,
    })
}

/// One served resource of a group/version.
#[derive(Debug, Clone)]
pub struct ApiResource {
    pub plural: String,
    pub kind: String,
    pub namespaced: bool,
}

pub struct ClusterClient {
    http: reqwest::Client,
    pub config: Kubeconfig,
    discovery: Mutex<HashMap<String, Vec<ApiResource>>>,
}

/// Where one object (or a collection) is.
#[derive(Debug, Clone)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    pub fn of(obj: &Value) -> Self {
        Self {
            api_version: resources::api_version(obj).to_string(),
            kind: resources::kind(obj).to_string(),
            namespace: resources::namespace(obj).to_string(),
            name: resources::name(obj).to_string(),
        }
    }
    pub fn describe(&self) -> String {
        let ns = if self.namespace.is_empty() {
            String::new()
        } else {
            format!("{}/", self.namespace)
        };
        format!("{} {ns}{}", self.kind, self.name)
    }
}

impl ClusterClient {
    pub fn new(http: reqwest::Client, config: Kubeconfig) -> Self {
        Self {
            http,
            config,
            discovery: Mutex::new(HashMap::new()),
        }
    }

    async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<(&str, &Value)>,
    ) -> Result<Value, ClientError> {
        let mut req = self
            .http
            .request(method, url)
            .header("Accept", "application/json");
        if !self.config.token.is_empty() {
            req = req.bearer_auth(&self.config.token);
        }
        if let Some((content_type, body)) = body {
            req = req
                .header("Content-Type", content_type)
                .body(body.to_string());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ClientError::other(format!("{url}: {e}")))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| ClientError::other(format!("{url}: reading the answer: {e}")))?;
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        if status.is_success() {
            return parsed.ok_or_else(|| {
                ClientError::other(format!("{url}: the answer is not JSON: {}", excerpt(&text)))
            });
        }
        let code = status.as_u16();
        match parsed {
            Some(v) if v.get("kind").and_then(Value::as_str) == Some("Status") => {
                Err(ClientError {
                    code,
                    reason: v["reason"].as_str().unwrap_or_default().to_string(),
                    message: v["message"].as_str().unwrap_or_default().to_string(),
                })
            }
            _ => Err(ClientError {
                code,
                reason: String::new(),
                message: format!(
                    "the server answered {code} without a Status ({})",
                    excerpt(&text)
                ),
            }),
        }
    }

    fn group_version_path(&self, api_version: &str) -> String {
        let (group, version) = group_version(api_version);
        if group.is_empty() {
            format!("{}/api/{version}", self.config.server)
        } else {
            format!("{}/apis/{group}/{version}", self.config.server)
        }
    }

    /// Maps a kind to its resource through discovery (read again once on a miss).
    pub async fn resolve(&self, api_version: &str, kind: &str) -> Result<ApiResource, ClientError> {
        for fresh in [false, true] {
            let cached = {
                let cache = self.discovery.lock().unwrap_or_else(|e| e.into_inner());
                cache.get(api_version).cloned()
            };
            let list = match cached {
                Some(list) if !fresh => list,
                _ => {
                    let url = self.group_version_path(api_version);
                    let list = match self.call(Method::GET, &url, None).await {
                        Ok(doc) => doc["resources"]
                            .as_array()
                            .map(|rs| {
                                rs.iter()
                                    .filter_map(|r| {
                                        let plural = r["name"].as_str()?;
                                        if plural.contains('/') {
                                            return None;
                                        }
                                        Some(ApiResource {
                                            plural: plural.to_string(),
                                            kind: r["kind"].as_str()?.to_string(),
                                            namespaced: r["namespaced"].as_bool().unwrap_or(false),
                                        })
                                    })
                                    .collect::<Vec<_>>()
                            })
                            .unwrap_or_default(),
                        Err(e) if e.is_not_found() => Vec::new(),
                        Err(e) => return Err(e),
                    };
                    self.discovery
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(api_version.to_string(), list.clone());
                    list
                }
            };
            if let Some(r) = list.iter().find(|r| r.kind == kind) {
                return Ok(r.clone());
            }
        }
        Err(ClientError::other(format!(
            "no matches for kind \"{kind}\" in version \"{api_version}\""
        )))
    }

    pub async fn is_namespaced(&self, api_version: &str, kind: &str) -> Result<bool, ClientError> {
        Ok(self.resolve(api_version, kind).await?.namespaced)
    }

    async fn url(
        &self,
        r: &ObjectRef,
        with_name: bool,
    ) -> Result<(ApiResource, String), ClientError> {
        let res = self.resolve(&r.api_version, &r.kind).await?;
        let mut url = self.group_version_path(&r.api_version);
        if res.namespaced && !r.namespace.is_empty() {
            url.push_str(&format!("/namespaces/{}", r.namespace));
        }
        url.push('/');
        url.push_str(&res.plural);
        if with_name {
            url.push('/');
            url.push_str(&r.name);
        }
        Ok((res, url))
    }

    pub async fn get(&self, r: &ObjectRef) -> Result<Value, ClientError> {
        let (_, url) = self.url(r, true).await?;
        self.call(Method::GET, &url, None).await
    }

    /// The objects of a kind in `r.namespace` (every namespace when empty),
    /// with apiVersion and kind set on each.
    pub async fn list(
        &self,
        r: &ObjectRef,
        selector: Option<&str>,
    ) -> Result<Vec<Value>, ClientError> {
        let (_, mut url) = self.url(r, false).await?;
        if let Some(sel) = selector {
            url.push_str("?labelSelector=");
            url.push_str(&encode(sel));
        }
        let doc = self.call(Method::GET, &url, None).await?;
        let mut items = doc["items"].as_array().cloned().unwrap_or_default();
        for item in &mut items {
            if let Value::Object(m) = item {
                m.entry("apiVersion")
                    .or_insert_with(|| Value::String(r.api_version.clone()));
                m.entry("kind")
                    .or_insert_with(|| Value::String(r.kind.clone()));
            }
        }
        Ok(items)
    }

    pub async fn create(&self, obj: &Value) -> Result<Value, ClientError> {
        let (_, url) = self.url(&ObjectRef::of(obj), false).await?;
        self.call(Method::POST, &url, Some(("application/json", obj)))
            .await
    }

    pub async fn update(&self, obj: &Value) -> Result<Value, ClientError> {
        let (_, url) = self.url(&ObjectRef::of(obj), true).await?;
        self.call(Method::PUT, &url, Some(("application/json", obj)))
            .await
    }

    pub async fn merge_patch(&self, r: &ObjectRef, patch: &Value) -> Result<Value, ClientError> {
        let (_, url) = self.url(r, true).await?;
        self.call(
            Method::PATCH,
            &url,
            Some(("application/merge-patch+json", patch)),
        )
        .await
    }

    pub async fn delete(&self, r: &ObjectRef, propagation: &str) -> Result<(), ClientError> {
        let (_, url) = self.url(r, true).await?;
        let body =
            json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation});
        self.call(Method::DELETE, &url, Some(("application/json", &body)))
            .await
            .map(|_| ())
    }
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn excerpt(text: &str) -> String {
    let t = text.trim();
    let cut = t.char_indices().nth(200).map(|(i, _)| i).unwrap_or(t.len());
    t[..cut].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suite_kubeconfig() {
        let dir =
            std::env::temp_dir().join(format!("conformance-kc-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kubeconfig-org");
        std::fs::write(
            &path,
            "apiVersion: v1\nclusters:\n- cluster:\n    insecure-skip-tls-verify: true\n    server: https://localhost:30443/apis/resourcemanager.miloapis.com/v1alpha1/organizations/o/control-plane\n  name: org-o\ncontexts:\n- context:\n    cluster: org-o\n    user: u\n  name: org-o\ncurrent-context: org-o\nkind: Config\nusers:\n- name: u\n  user:\n    token: test-admin-token\n",
        )
        .unwrap();
        let kc = read_kubeconfig(&path, None).unwrap();
        assert_eq!(
            kc.server,
            "https://localhost:30443/apis/resourcemanager.miloapis.com/v1alpha1/organizations/o/control-plane"
        );
        assert_eq!(kc.token, "test-admin-token");
        assert!(read_kubeconfig(&path, Some("other")).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn selectors_are_query_encoded() {
        assert_eq!(encode("a.b/c=d,e!=f"), "a.b%2Fc%3Dd%2Ce%21%3Df");
    }
}
