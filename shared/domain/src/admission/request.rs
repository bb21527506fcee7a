//! What a policy is evaluated against: one admission request, as the
//! pipeline (or an AdmissionReview) describes it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cel::Value as CelValue;
use serde_json::Value;

use super::types::Operation;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserInfo {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AdmissionRequest {
    pub uid: String,
    pub operation: Operation,
    pub group: String,
    pub version: String,
    /// The plural resource name (`projects`).
    pub resource: String,
    /// `status`, or empty for the main resource.
    pub subresource: String,
    pub kind: String,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// Empty on a create with `generateName` only.
    pub name: String,
    /// The new object; `None` on DELETE.
    pub object: Option<Value>,
    /// The stored object; `None` on CREATE.
    pub old_object: Option<Value>,
    /// The request's namespace, for `namespaceSelector` and
    /// `namespaceObject`; `None` for cluster-scoped requests.
    pub namespace_object: Option<Value>,
    /// The labels of the organization or project the request belongs to
    /// (`resourcemanager.miloapis.com/organization-name`, `.../project-name`),
    /// which a `namespaceSelector` matches for objects that have no
    /// namespace; `None` for cluster-scoped objects of the platform itself,
    /// which a namespace selector does not constrain (as Kubernetes).
    pub context_labels: Option<BTreeMap<String, String>>,
    pub user_info: UserInfo,
    pub dry_run: bool,
}

impl AdmissionRequest {
    /// The CEL `request` variable, shaped as Kubernetes' AdmissionRequest.
    pub(crate) fn to_cel(&self) -> CelValue {
        let s = |v: &str| CelValue::String(Arc::new(v.to_string()));
        let map = |pairs: Vec<(&str, CelValue)>| {
            let m: HashMap<String, CelValue> =
                pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            CelValue::Map(m.into())
        };
        let list =
            |items: &[String]| CelValue::List(Arc::new(items.iter().map(|i| s(i)).collect()));
        let kind = map(vec![
            ("group", s(&self.group)),
            ("version", s(&self.version)),
            ("kind", s(&self.kind)),
        ]);
        let resource = map(vec![
            ("group", s(&self.group)),
            ("version", s(&self.version)),
            ("resource", s(&self.resource)),
        ]);
        let extra: HashMap<String, CelValue> = self
            .user_info
            .extra
            .iter()
            .map(|(k, v)| (k.clone(), list(v)))
            .collect();
        let user = map(vec![
            ("username", s(&self.user_info.username)),
            ("uid", s(&self.user_info.uid)),
            ("groups", list(&self.user_info.groups)),
            ("extra", CelValue::Map(extra.into())),
        ]);
        map(vec![
            ("uid", s(&self.uid)),
            ("kind", kind.clone()),
            ("resource", resource.clone()),
            ("subResource", s(&self.subresource)),
            ("requestKind", kind),
            ("requestResource", resource),
            ("requestSubResource", s(&self.subresource)),
            ("name", s(&self.name)),
            (
                "namespace",
                s(self.namespace.as_deref().unwrap_or_default()),
            ),
            ("operation", s(self.operation.as_str())),
            ("userInfo", user),
            ("dryRun", CelValue::Bool(self.dry_run)),
        ])
    }

    /// The labels of `object` (or `oldObject`).
    pub(crate) fn labels(object: Option<&Value>) -> BTreeMap<String, String> {
        object
            .and_then(|o| o.pointer("/metadata/labels"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }
}
