//! Walking the relationship graph from one resource, breadth first, within
//! a depth bound and a node bound. Pure: the adapter feeds each level's
//! relationships (one Query per node and direction) and asks for the next.

use std::collections::{BTreeMap, BTreeSet};

use super::relations::Relationship;
use super::urn::Urn;

/// Which edges a walk follows from a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From a resource to its subjects (`rel#` items).
    Outgoing,
    /// From a subject to the resources that point at it (`relinv#` items).
    Incoming,
    Both,
}

impl Direction {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "outgoing" | "out" => Some(Self::Outgoing),
            "incoming" | "in" => Some(Self::Incoming),
            "both" => Some(Self::Both),
            _ => None,
        }
    }

    pub fn outgoing(self) -> bool {
        matches!(self, Self::Outgoing | Self::Both)
    }

    pub fn incoming(self) -> bool {
        matches!(self, Self::Incoming | Self::Both)
    }
}

/// The most a walk may cover; a walk that reaches a bound says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub depth: usize,
    pub max_nodes: usize,
}

/// What a walk found: each node with its distance from the start, the
/// edges between found nodes, and whether a bound cut it short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphView {
    pub nodes: Vec<(Urn, usize)>,
    pub edges: Vec<Relationship>,
    pub truncated: bool,
}

#[derive(Debug, Clone)]
pub struct Traversal {
    direction: Direction,
    /// Only these relations are followed (None: all).
    relations: Option<BTreeSet<String>>,
    bounds: Bounds,
    distance: BTreeMap<Urn, usize>,
    edges: BTreeSet<Relationship>,
    level: Vec<Urn>,
    next: Vec<Urn>,
    depth: usize,
    truncated: bool,
}

impl Traversal {
    pub fn new(
        start: Urn,
        direction: Direction,
        relations: Option<BTreeSet<String>>,
        bounds: Bounds,
    ) -> Self {
        let level = if bounds.depth == 0 || bounds.max_nodes <= 1 {
            Vec::new()
        } else {
            vec![start.clone()]
        };
        Self {
            direction,
            relations,
            bounds,
            distance: BTreeMap::from([(start, 0)]),
            edges: BTreeSet::new(),
            level,
            next: Vec::new(),
            depth: 0,
            truncated: false,
        }
    }

    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The nodes whose relationships are needed now; empty when done.
    pub fn pending(&self) -> &[Urn] {
        &self.level
    }

    /// Feeds the relationships read around a pending node (either side).
    pub fn visit(&mut self, relationships: Vec<Relationship>) {
        for rel in relationships {
            if self
                .relations
                .as_ref()
                .is_some_and(|r| !r.contains(&rel.relation))
            {
                continue;
            }
            for end in [&rel.resource, &rel.subject] {
                if self.distance.contains_key(end) {
                    continue;
                }
                if self.distance.len() >= self.bounds.max_nodes {
                    self.truncated = true;
                    continue;
                }
                self.distance.insert(end.clone(), self.depth + 1);
                self.next.push(end.clone());
            }
            // An edge is kept only when both its ends are in the view.
            if self.distance.contains_key(&rel.resource) && self.distance.contains_key(&rel.subject)
            {
                self.edges.insert(rel);
            }
        }
    }

    /// Moves on to the next level, once every pending node was visited.
    pub fn advance(&mut self) {
        self.depth += 1;
        self.level = std::mem::take(&mut self.next);
        if self.depth >= self.bounds.depth {
            if !self.level.is_empty() {
                // Nodes at the depth bound are listed; their own edges are
                // not followed, so more may lie beyond.
                self.truncated = true;
            }
            self.level.clear();
        }
    }

    pub fn finish(self) -> GraphView {
        let mut nodes: Vec<(Urn, usize)> = self.distance.into_iter().collect();
        nodes.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        GraphView {
            nodes,
            edges: self.edges.into_iter().collect(),
            truncated: self.truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urn(n: u32) -> Urn {
        Urn::parse(&format!("urn:t:node:00000000-0000-4000-8000-{n:012}")).unwrap()
    }

    fn rel(a: u32, relation: &str, b: u32) -> Relationship {
        Relationship {
            resource: urn(a),
            relation: relation.into(),
            subject: urn(b),
        }
    }

    /// A chain 1 → 2 → 3 → 4 (relation `next`), plus 1 → 9 (`other`).
    fn edges_of(node: &Urn, direction: Direction) -> Vec<Relationship> {
        let all = [
            rel(1, "next", 2),
            rel(2, "next", 3),
            rel(3, "next", 4),
            rel(1, "other", 9),
        ];
        all.into_iter()
            .filter(|r| {
                (direction.outgoing() && &r.resource == node)
                    || (direction.incoming() && &r.subject == node)
            })
            .collect()
    }

    fn walk(
        start: u32,
        direction: Direction,
        relations: Option<&[&str]>,
        bounds: Bounds,
    ) -> GraphView {
        let relations = relations.map(|r| r.iter().map(|s| s.to_string()).collect());
        let mut t = Traversal::new(urn(start), direction, relations, bounds);
        while !t.pending().is_empty() {
            for node in t.pending().to_vec() {
                t.visit(edges_of(&node, direction));
            }
            t.advance();
        }
        t.finish()
    }

    fn ids(view: &GraphView) -> Vec<(u32, usize)> {
        view.nodes
            .iter()
            .map(|(u, d)| {
                (
                    u.to_string()[u.to_string().len() - 2..].parse().unwrap(),
                    *d,
                )
            })
            .collect()
    }

    #[test]
    fn depth_bounds_the_walk_and_says_so() {
        let view = walk(
            1,
            Direction::Outgoing,
            None,
            Bounds {
                depth: 2,
                max_nodes: 100,
            },
        );
        assert_eq!(ids(&view), [(1, 0), (2, 1), (9, 1), (3, 2)]);
        assert_eq!(view.edges.len(), 3);
        assert!(view.truncated, "3 → 4 lies beyond depth 2");
        let all = walk(
            1,
            Direction::Outgoing,
            None,
            Bounds {
                depth: 10,
                max_nodes: 100,
            },
        );
        assert_eq!(all.nodes.len(), 5);
        assert!(!all.truncated);
    }

    #[test]
    fn node_bound_and_relation_filter() {
        let view = walk(
            1,
            Direction::Outgoing,
            None,
            Bounds {
                depth: 10,
                max_nodes: 3,
            },
        );
        assert_eq!(view.nodes.len(), 3);
        assert!(view.truncated);
        assert!(view
            .edges
            .iter()
            .all(|e| view.nodes.iter().any(|(n, _)| *n == e.subject)));
        let next_only = walk(
            1,
            Direction::Outgoing,
            Some(&["next"]),
            Bounds {
                depth: 10,
                max_nodes: 100,
            },
        );
        assert_eq!(ids(&next_only), [(1, 0), (2, 1), (3, 2), (4, 3)]);
    }

    #[test]
    fn incoming_and_both_directions() {
        let up = walk(
            4,
            Direction::Incoming,
            None,
            Bounds {
                depth: 10,
                max_nodes: 100,
            },
        );
        assert_eq!(ids(&up), [(4, 0), (3, 1), (2, 2), (1, 3)]);
        let around = walk(
            2,
            Direction::Both,
            None,
            Bounds {
                depth: 1,
                max_nodes: 100,
            },
        );
        assert_eq!(ids(&around), [(2, 0), (1, 1), (3, 1)]);
    }

    #[test]
    fn depth_zero_is_the_start_alone() {
        let view = walk(
            1,
            Direction::Both,
            None,
            Bounds {
                depth: 0,
                max_nodes: 100,
            },
        );
        assert_eq!(ids(&view), [(1, 0)]);
        assert!(view.edges.is_empty());
    }
}
