//! How a schema's values merge and are owned under server-side apply:
//! `x-kubernetes-list-type`, `-list-map-keys` and `-map-type`. What the
//! schema leaves open (no schema, preserved unknown fields) is deduced as
//! Kubernetes deduces it: objects granular, lists atomic. `metadata` is the
//! server's: only its labels, annotations, finalizers and owner references
//! are a manager's fields, the rest is ignored.

use super::node::{ListType, Node};

/// The merge shape of one place in an object.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a>(Place<'a>);

#[derive(Debug, Clone, Copy)]
enum Place<'a> {
    Node(&'a Node),
    /// No schema says: an object is granular, a list atomic.
    Deduced,
    /// Not a manager's field: not merged, not owned.
    Ignored,
    /// A resource's `metadata`.
    Metadata,
    /// `metadata.finalizers`: a set of strings.
    StringSet,
    /// `metadata.ownerReferences`: a list keyed by `uid`.
    OwnerReferences,
}

/// How a list's items merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListShape<'a> {
    /// Replaced and owned whole.
    Atomic,
    /// Scalars, each owned by value.
    Set,
    /// Objects, each owned by the values of these keys.
    Map(&'a [String]),
}

impl<'a> Shape<'a> {
    pub(super) fn of(node: &'a Node) -> Shape<'a> {
        Shape(Place::Node(node))
    }

    /// The shape of the value under `key` of an object of this shape.
    pub fn field(self, key: &str) -> Shape<'a> {
        Shape(match self.0 {
            Place::Node(node) if node.is_resource_field(key) => match key {
                "metadata" => Place::Metadata,
                _ => Place::Ignored,
            },
            Place::Node(node) => match node.child(key) {
                Some((child, _)) => Place::Node(child),
                None => Place::Deduced,
            },
            Place::Metadata => match key {
                "labels" | "annotations" => Place::Deduced,
                "finalizers" => Place::StringSet,
                "ownerReferences" => Place::OwnerReferences,
                _ => Place::Ignored,
            },
            Place::Ignored => Place::Ignored,
            Place::Deduced | Place::StringSet | Place::OwnerReferences => Place::Deduced,
        })
    }

    /// The shape of a list's items.
    pub fn items(self) -> Shape<'a> {
        Shape(match self.0 {
            Place::Node(node) => node.items.as_deref().map_or(Place::Deduced, Place::Node),
            Place::Ignored => Place::Ignored,
            _ => Place::Deduced,
        })
    }

    /// How a list of this shape merges.
    pub fn list(self) -> ListShape<'a> {
        match self.0 {
            Place::Node(node) => match node.list_type {
                Some(ListType::Set) => ListShape::Set,
                Some(ListType::Map) => ListShape::Map(&node.list_map_keys),
                Some(ListType::Atomic) | None => ListShape::Atomic,
            },
            Place::StringSet => ListShape::Set,
            Place::OwnerReferences => ListShape::Map(owner_reference_keys()),
            _ => ListShape::Atomic,
        }
    }

    /// Whether an object of this shape is replaced and owned whole.
    pub fn is_atomic_map(self) -> bool {
        matches!(self.0, Place::Node(node) if node.map_atomic)
    }

    /// Whether an object of this shape is a struct (named fields), not a
    /// map: a struct is never owned itself, only its fields, as in
    /// Kubernetes.
    pub fn is_struct(self) -> bool {
        match self.0 {
            Place::Node(node) => !node.properties.is_empty(),
            Place::Metadata => true,
            _ => false,
        }
    }

    /// Whether this is no manager's field (`apiVersion`, `kind`, most of
    /// `metadata`).
    pub fn is_ignored(self) -> bool {
        matches!(self.0, Place::Ignored)
    }
}

fn owner_reference_keys() -> &'static [String] {
    static KEYS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| vec!["uid".to_string()])
}
