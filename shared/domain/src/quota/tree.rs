//! An organization's quota tree: each node's limit, allocated and available
//! per resource type, from its buckets (the quota function's view).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::bucket::{BucketKey, BucketLevel};
use super::refs::Node;
use crate::hierarchy::MAX_FOLDER_DEPTH;

/// One node of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaTreeNode {
    pub node: Node,
    /// Per resource type, the node's bucket.
    pub levels: BTreeMap<String, BucketLevel>,
    pub children: Vec<QuotaTreeNode>,
}

/// The tree under `organization`. `parents` are (child, parent) pairs as
/// the hierarchy's child index reads them; nodes not reached from the
/// organization are left out, and so are levels deeper than the hierarchy
/// allows (bad data cannot make this loop).
pub fn quota_tree(
    organization: &str,
    parents: &[(Node, Node)],
    buckets: &BTreeMap<BucketKey, BucketLevel>,
) -> QuotaTreeNode {
    build(&Node::organization(organization), parents, buckets, 0)
}

fn build(
    node: &Node,
    parents: &[(Node, Node)],
    buckets: &BTreeMap<BucketKey, BucketLevel>,
    depth: usize,
) -> QuotaTreeNode {
    let levels = buckets
        .iter()
        .filter(|(k, _)| k.consumer == *node)
        .map(|(k, l)| (k.resource_type.clone(), *l))
        .collect();
    // Organization, up to MAX_FOLDER_DEPTH folders, then projects.
    let children = if depth <= MAX_FOLDER_DEPTH {
        let mut kids: Vec<&Node> = parents
            .iter()
            .filter(|(_, parent)| parent == node)
            .map(|(child, _)| child)
            .collect();
        kids.sort();
        kids.dedup();
        kids.into_iter()
            .map(|child| build(child, parents, buckets, depth + 1))
            .collect()
    } else {
        Vec::new()
    };
    QuotaTreeNode {
        node: node.clone(),
        levels,
        children,
    }
}

impl QuotaTreeNode {
    pub fn to_json(&self) -> Value {
        let resources: Vec<Value> = self
            .levels
            .iter()
            .map(|(resource_type, l)| {
                json!({
                    "resourceType": resource_type,
                    "limited": l.is_limited(),
                    "limit": l.limit,
                    "allocated": l.allocated,
                    "available": l.available(),
                })
            })
            .collect();
        json!({
            "kind": self.node.kind.kind(),
            "name": self.node.name,
            "resources": resources,
            "children": self.children.iter().map(QuotaTreeNode::to_json).collect::<Vec<_>>(),
        })
    }
}

impl QuotaTreeNode {
    /// The tree as text for a terminal: one line per node and resource
    /// type, indented by depth, numbers in aligned columns (`-` for the
    /// limit and availability of a bucket no grant limits).
    pub fn to_text(&self) -> String {
        let mut rows = vec![[
            "NODE".to_string(),
            "RESOURCE TYPE".into(),
            "LIMIT".into(),
            "ALLOCATED".into(),
            "AVAILABLE".into(),
        ]];
        self.rows(0, &mut rows);
        let widths: Vec<usize> = (0..5)
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for row in rows {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            out.push_str(cells.join("   ").trim_end());
            out.push('\n');
        }
        out
    }

    fn rows(&self, depth: usize, rows: &mut Vec<[String; 5]>) {
        let node = format!(
            "{}{}/{}",
            "  ".repeat(depth),
            self.node.kind.kind(),
            self.node.name
        );
        if self.levels.is_empty() {
            rows.push([node.clone(), "-".into(), "-".into(), "-".into(), "-".into()]);
        }
        for (i, (resource_type, level)) in self.levels.iter().enumerate() {
            let (limit, available) = if level.is_limited() {
                (level.limit.to_string(), level.available().to_string())
            } else {
                ("-".into(), "-".into())
            };
            let label = if i == 0 { node.clone() } else { String::new() };
            rows.push([
                label,
                resource_type.clone(),
                limit,
                level.allocated.to_string(),
                available,
            ]);
        }
        for child in &self.children {
            child.rows(depth + 1, rows);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_shows_each_level_under_its_parent() {
        let org = Node::organization("acme");
        let eng = Node::folder("eng");
        let p = Node::project("p");
        let parents = vec![
            (p.clone(), eng.clone()),
            (eng.clone(), org.clone()),
            (Node::project("elsewhere"), Node::organization("other")),
        ];
        let level = |limit, allocated, grants| BucketLevel {
            limit,
            allocated,
            claim_count: allocated,
            grant_count: grants,
        };
        let buckets = BTreeMap::from([
            (BucketKey::new(org.clone(), "t"), level(10, 5, 1)),
            (BucketKey::new(eng.clone(), "t"), level(4, 4, 1)),
            (BucketKey::new(p.clone(), "t"), level(0, 1, 0)),
        ]);
        let tree = quota_tree("acme", &parents, &buckets);
        assert_eq!(tree.children.len(), 1);
        assert_eq!(tree.children[0].children[0].node, p);
        let json = tree.to_json();
        assert_eq!(json["resources"][0]["available"], 5);
        assert_eq!(json["children"][0]["resources"][0]["available"], 0);
        assert_eq!(
            json["children"][0]["children"][0]["resources"][0]["limited"],
            false
        );
        let text = tree.to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        let cells = |line: &str| {
            line.split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            cells(lines[0]),
            [
                "NODE",
                "RESOURCE",
                "TYPE",
                "LIMIT",
                "ALLOCATED",
                "AVAILABLE"
            ]
        );
        assert_eq!(cells(lines[1]), ["Organization/acme", "t", "10", "5", "5"]);
        assert!(lines[2].starts_with("  Folder/eng "), "{text}");
        assert_eq!(cells(lines[2]), ["Folder/eng", "t", "4", "4", "0"]);
        assert!(lines[3].starts_with("    Project/p "), "{text}");
        assert_eq!(cells(lines[3]), ["Project/p", "t", "-", "1", "-"]);
    }

    #[test]
    fn a_cycle_in_bad_data_ends() {
        let a = Node::folder("a");
        let b = Node::folder("b");
        let parents = vec![
            (a.clone(), Node::organization("o")),
            (b.clone(), a.clone()),
            (a.clone(), b.clone()),
        ];
        let tree = quota_tree("o", &parents, &BTreeMap::new());
        let mut depth = 0;
        let mut node = &tree;
        while let Some(child) = node.children.first() {
            node = child;
            depth += 1;
        }
        assert_eq!(depth, MAX_FOLDER_DEPTH + 1);
    }
}
