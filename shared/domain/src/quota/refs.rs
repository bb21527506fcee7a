//! What the quota kinds point at: `consumerRef` / `resourceRef` objects, the
//! hierarchy nodes that consume quota, and the path of nodes a claim counts
//! against.

use std::fmt;

use serde_json::{json, Map, Value};

use super::read::{check_api_group, name_and_generation, optional_string, required_string, spec};
use crate::crd::fields::{Field, Reader};
use crate::hierarchy::{Ancestor, ParentKind};
use crate::kinds::RESOURCEMANAGER_GROUP;
use crate::Cause;

/// A `consumerRef` or `resourceRef`: `{apiGroup, kind, name, namespace}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// Empty for the core group.
    pub api_group: String,
    pub kind: String,
    pub name: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
}

impl ObjectRef {
    /// Reads a reference whose `kind` and `name` are required.
    pub(crate) fn read(r: &mut Reader, field: &Field) -> Option<ObjectRef> {
        if !field.is_present() {
            r.push(Cause::required(&field.path));
            return None;
        }
        if !r.object(field) {
            return None;
        }
        let group_field = field.get("apiGroup");
        let api_group = optional_string(r, &group_field);
        check_api_group(r, &group_field, &api_group);
        let kind = required_string(r, &field.get("kind"));
        let name = required_string(r, &field.get("name"));
        let namespace = optional_string(r, &field.get("namespace"));
        Some(ObjectRef {
            api_group,
            kind: kind?,
            name: name?,
            namespace,
        })
    }

    /// As written in a document (empty namespace left out).
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("apiGroup".into(), json!(self.api_group));
        out.insert("kind".into(), json!(self.kind));
        out.insert("name".into(), json!(self.name));
        if !self.namespace.is_empty() {
            out.insert("namespace".into(), json!(self.namespace));
        }
        Value::Object(out)
    }
}

/// The kinds that consume quota: the resource hierarchy's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeKind {
    Organization,
    Folder,
    Project,
}

impl NodeKind {
    pub fn kind(self) -> &'static str {
        match self {
            NodeKind::Organization => "Organization",
            NodeKind::Folder => "Folder",
            NodeKind::Project => "Project",
        }
    }

    /// The node kind of `apiGroup`/`kind`, if it is one.
    pub fn of(api_group: &str, kind: &str) -> Option<NodeKind> {
        if api_group != RESOURCEMANAGER_GROUP {
            return None;
        }
        match kind {
            "Organization" => Some(NodeKind::Organization),
            "Folder" => Some(NodeKind::Folder),
            "Project" => Some(NodeKind::Project),
            _ => None,
        }
    }
}

/// One organization, folder or project.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Node {
    pub kind: NodeKind,
    pub name: String,
}

impl Node {
    pub fn new(kind: NodeKind, name: impl Into<String>) -> Node {
        Node {
            kind,
            name: name.into(),
        }
    }

    pub fn organization(name: impl Into<String>) -> Node {
        Node::new(NodeKind::Organization, name)
    }
    pub fn folder(name: impl Into<String>) -> Node {
        Node::new(NodeKind::Folder, name)
    }
    pub fn project(name: impl Into<String>) -> Node {
        Node::new(NodeKind::Project, name)
    }

    /// The node a reference names, if it names one.
    pub fn of_ref(reference: &ObjectRef) -> Option<Node> {
        NodeKind::of(&reference.api_group, &reference.kind).map(|kind| Node {
            kind,
            name: reference.name.clone(),
        })
    }

    /// As a `consumerRef`.
    pub fn to_ref(&self) -> ObjectRef {
        ObjectRef {
            api_group: RESOURCEMANAGER_GROUP.to_string(),
            kind: self.kind.kind().to_string(),
            name: self.name.clone(),
            namespace: String::new(),
        }
    }

    /// A cause at `path` when `reference` names no hierarchy node.
    pub(crate) fn require(reference: &ObjectRef, path: &str) -> Result<Node, Cause> {
        Node::of_ref(reference).ok_or_else(|| {
            Cause::not_supported(
                path,
                format!(
                    "Unsupported value: {}/{}: quota consumers are organizations, folders and projects (apiGroup {RESOURCEMANAGER_GROUP})",
                    if reference.api_group.is_empty() { "<core>" } else { &reference.api_group },
                    reference.kind
                ),
            )
        })
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.kind.kind(), self.name)
    }
}

/// Why a list of nodes is not a path to an organization.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("a quota path must end in an organization")]
    NoOrganization,
    #[error("{0} may only be the first node of a quota path")]
    MisplacedProject(String),
    #[error("{0} appears above the top of a quota path")]
    MisplacedOrganization(String),
    #[error("{0} appears twice in a quota path")]
    Repeated(String),
}

/// The nodes a claimed object counts against, innermost first: the project
/// it lives in (if any), each folder above, the organization last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaPath {
    nodes: Vec<Node>,
}

impl QuotaPath {
    pub fn new(nodes: Vec<Node>) -> Result<QuotaPath, PathError> {
        let Some((last, above)) = nodes.split_last() else {
            return Err(PathError::NoOrganization);
        };
        if last.kind != NodeKind::Organization {
            return Err(PathError::NoOrganization);
        }
        for (i, node) in above.iter().enumerate() {
            match node.kind {
                NodeKind::Project if i > 0 => {
                    return Err(PathError::MisplacedProject(node.to_string()))
                }
                NodeKind::Organization => {
                    return Err(PathError::MisplacedOrganization(node.to_string()))
                }
                _ => {}
            }
        }
        for (i, node) in nodes.iter().enumerate() {
            if nodes[..i].contains(node) {
                return Err(PathError::Repeated(node.to_string()));
            }
        }
        Ok(QuotaPath { nodes })
    }

    /// The path of an object: `project` is the project it lives in (an
    /// object in a project's context), `None` for an object placed directly
    /// in the hierarchy (a project or folder, whose `chain` is its parent's);
    /// `chain` is the ancestor chain as `hierarchy` reads it (parent first,
    /// organization last).
    pub fn of_object(project: Option<&str>, chain: &[Ancestor]) -> Result<QuotaPath, PathError> {
        let mut nodes: Vec<Node> = project.map(Node::project).into_iter().collect();
        nodes.extend(chain.iter().map(|a| match a.kind {
            ParentKind::Organization => Node::organization(&a.name),
            ParentKind::Folder => Node::folder(&a.name),
        }));
        QuotaPath::new(nodes)
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node above `node` on this path (`None` for the organization, or
    /// a node not on the path).
    pub fn parent_of(&self, node: &Node) -> Option<&Node> {
        let i = self.nodes.iter().position(|n| n == node)?;
        self.nodes.get(i + 1)
    }

    pub fn contains(&self, node: &Node) -> bool {
        self.nodes.contains(node)
    }

    pub fn organization(&self) -> &str {
        // `new` guarantees a last node, an organization.
        self.nodes
            .last()
            .map(|n| n.name.as_str())
            .unwrap_or_default()
    }
}

impl fmt::Display for QuotaPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.nodes.iter().map(Node::to_string).collect();
        f.write_str(&parts.join(" → "))
    }
}

/// What a ResourceClaim and a ResourceGrant are read with alike: the
/// document's name, generation and namespace, its required `spec`, and the
/// consumer `spec.consumerRef` names, which must be a hierarchy node.
pub(crate) struct ConsumerDocument<'a> {
    pub spec: Field<'a>,
    pub name: String,
    pub generation: i64,
    pub namespace: String,
    pub consumer: Option<Node>,
}

impl<'a> ConsumerDocument<'a> {
    pub fn read(r: &mut Reader, doc: &'a Value) -> ConsumerDocument<'a> {
        let spec = spec(r, &Field::root(doc));
        let (name, generation) = name_and_generation(doc);
        let namespace = doc["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let consumer_field = spec.get("consumerRef");
        let consumer = ObjectRef::read(r, &consumer_field).and_then(|reference| {
            Node::require(&reference, &consumer_field.path)
                .map_err(|cause| r.push(cause))
                .ok()
        });
        ConsumerDocument {
            spec,
            name,
            generation,
            namespace,
            consumer,
        }
    }
}

/// Once the whole document is read: every cause found, or else its
/// consumer (required when no cause says what is wrong with it).
pub(crate) fn checked_consumer(r: Reader, consumer: Option<Node>) -> Result<Node, Vec<Cause>> {
    if !r.causes.is_empty() {
        return Err(r.causes);
    }
    consumer.ok_or_else(|| vec![Cause::required("spec.consumerRef")])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_ends_in_its_organization_with_a_project_only_first() {
        let ok = QuotaPath::new(vec![
            Node::project("p"),
            Node::folder("f"),
            Node::organization("o"),
        ]);
        assert_eq!(ok.unwrap().organization(), "o");
        assert_eq!(QuotaPath::new(vec![]), Err(PathError::NoOrganization));
        assert_eq!(
            QuotaPath::new(vec![Node::folder("f")]),
            Err(PathError::NoOrganization)
        );
        assert!(matches!(
            QuotaPath::new(vec![
                Node::folder("f"),
                Node::project("p"),
                Node::organization("o")
            ]),
            Err(PathError::MisplacedProject(_))
        ));
        assert!(matches!(
            QuotaPath::new(vec![Node::organization("a"), Node::organization("o")]),
            Err(PathError::MisplacedOrganization(_))
        ));
        assert!(matches!(
            QuotaPath::new(vec![
                Node::folder("f"),
                Node::folder("f"),
                Node::organization("o")
            ]),
            Err(PathError::Repeated(_))
        ));
    }

    #[test]
    fn a_path_is_built_from_the_hierarchy_chain() {
        let chain = [
            Ancestor {
                kind: ParentKind::Folder,
                name: "f".into(),
            },
            Ancestor {
                kind: ParentKind::Organization,
                name: "o".into(),
            },
        ];
        let in_project = QuotaPath::of_object(Some("p"), &chain).unwrap();
        assert_eq!(
            in_project.nodes(),
            [
                Node::project("p"),
                Node::folder("f"),
                Node::organization("o")
            ]
        );
        assert_eq!(
            in_project.to_string(),
            "Project \"p\" → Folder \"f\" → Organization \"o\""
        );
        let placed = QuotaPath::of_object(None, &chain).unwrap();
        assert_eq!(placed.nodes().len(), 2);
    }

    #[test]
    fn only_resourcemanager_kinds_are_nodes() {
        let reference = |group: &str, kind: &str| ObjectRef {
            api_group: group.into(),
            kind: kind.into(),
            name: "n".into(),
            namespace: String::new(),
        };
        assert_eq!(
            Node::of_ref(&reference(RESOURCEMANAGER_GROUP, "Folder")),
            Some(Node::folder("n"))
        );
        assert_eq!(Node::of_ref(&reference("", "Folder")), None);
        assert_eq!(Node::of_ref(&reference("iam.miloapis.com", "User")), None);
        let cause =
            Node::require(&reference("iam.miloapis.com", "User"), "spec.consumerRef").unwrap_err();
        assert_eq!(cause.field, "spec.consumerRef");
        assert!(cause
            .message
            .contains("organizations, folders and projects"));
    }
}
