//! Messages sorted into lanes, one per resource: the events consumer and
//! the change feed's publisher handle several lanes at once and each
//! lane's messages one after another, so one resource's events keep their
//! stream's order while other resources' run beside them.

use std::collections::HashMap;

/// `items` grouped by key, each group in arrival order, the groups in
/// the order of their first item. An item without a key (a message that
/// names no resource) is a lane of its own.
pub fn lanes<T>(items: impl IntoIterator<Item = (Option<String>, T)>) -> Vec<Vec<T>> {
    let mut lanes: Vec<Vec<T>> = Vec::new();
    let mut lane_of: HashMap<String, usize> = HashMap::new();
    for (key, item) in items {
        let existing = key.as_ref().and_then(|key| lane_of.get(key).copied());
        match existing {
            Some(lane) => lanes[lane].push(item),
            None => {
                if let Some(key) = key {
                    lane_of.insert(key, lanes.len());
                }
                lanes.push(vec![item]);
            }
        }
    }
    lanes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_resources_items_stay_in_order_in_one_lane() {
        let key = |k: &str| Some(k.to_string());
        let items = [
            (key("a"), 1),
            (key("b"), 2),
            (None, 3),
            (key("a"), 4),
            (None, 5),
            (key("b"), 6),
            (key("a"), 7),
        ];
        assert_eq!(
            lanes(items),
            vec![vec![1, 4, 7], vec![2, 6], vec![3], vec![5]]
        );
    }

    #[test]
    fn nothing_makes_no_lane() {
        assert!(lanes(Vec::<(Option<String>, u8)>::new()).is_empty());
    }
}
