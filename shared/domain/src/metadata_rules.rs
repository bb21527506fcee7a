//! Validation of object metadata by the Kubernetes rules
//! (`k8s.io/apimachinery/pkg/util/validation` and `.../api/validation`).
//!
//! The `*_errors` functions return the Kubernetes messages as plain strings
//! (empty = valid); the `validate_*` functions turn them into [`Cause`]s
//! for an `Invalid` response. The character rules are written out by hand
//! instead of as regexes, but the messages quote the regexes Kubernetes uses
//! so that clients see the same text as from a real API server.
//!
//! Lengths are counted in characters; every valid value is ASCII, where that
//! equals the byte count Kubernetes uses. The annotation size limit is in
//! bytes, as in Kubernetes.

use std::collections::BTreeMap;

use crate::error::Cause;

pub const DNS1123_LABEL_MAX_LENGTH: usize = 63;
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;
pub const QUALIFIED_NAME_MAX_LENGTH: usize = 63;
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;
/// Total bytes of all annotation keys and values of one object (256 KiB).
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;
/// Length of the random suffix appended to `metadata.generateName`.
pub const GENERATED_SUFFIX_LENGTH: usize = 5;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_ERR: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

// ---------------------------------------------------------------------------
// String rules (Kubernetes `util/validation`)
// ---------------------------------------------------------------------------

/// Why `value` is not a DNS-1123 subdomain (e.g. `example.com`); empty when it is one.
pub fn dns1123_subdomain_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if char_count(value) > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errors.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    if !is_dns1123_subdomain_format(value) {
        errors.push(regex_error(
            DNS1123_SUBDOMAIN_ERR,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errors
}

/// Why `value` is not a DNS-1123 label (e.g. `my-name`); empty when it is one.
pub fn dns1123_label_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if char_count(value) > DNS1123_LABEL_MAX_LENGTH {
        errors.push(max_len_error(DNS1123_LABEL_MAX_LENGTH));
    }
    errors.extend(dns1123_label_format_error(value));
    errors
}

/// Why `value` is not a qualified name (`[prefix/]name`, the form of label and
/// annotation keys); empty when it is one.
pub fn qualified_name_errors(value: &str) -> Vec<String> {
    let parts: Vec<&str> = value.split('/').collect();
    let (prefix, name) = match parts.as_slice() {
        [name] => (None, *name),
        [prefix, name] => (Some(*prefix), *name),
        _ => {
            return vec![format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            )]
        }
    };

    let mut errors = Vec::new();
    match prefix {
        Some("") => errors.push("prefix part must be non-empty".to_string()),
        Some(prefix) => errors.extend(
            dns1123_subdomain_errors(prefix)
                .into_iter()
                .map(|e| format!("prefix part {e}")),
        ),
        None => {}
    }
    if name.is_empty() {
        errors.push("name part must be non-empty".to_string());
    } else if char_count(name) > QUALIFIED_NAME_MAX_LENGTH {
        errors.push(format!(
            "name part {}",
            max_len_error(QUALIFIED_NAME_MAX_LENGTH)
        ));
    }
    // Kubernetes reports the pattern even for an empty name; so do we.
    if !is_qualified_name_part(name) {
        errors.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_ERR,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errors
}

/// Why `value` is not a valid label value; empty when it is one.
pub fn label_value_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if char_count(value) > LABEL_VALUE_MAX_LENGTH {
        errors.push(max_len_error(LABEL_VALUE_MAX_LENGTH));
    }
    if !value.is_empty() && !is_qualified_name_part(value) {
        errors.push(regex_error(
            LABEL_VALUE_ERR,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errors
}

/// Whether `value` may be a label or annotation key.
pub fn is_qualified_name(value: &str) -> bool {
    qualified_name_errors(value).is_empty()
}

/// Whether `value` may be a label value (the empty string may).
pub fn is_label_value(value: &str) -> bool {
    label_value_errors(value).is_empty()
}

// ---------------------------------------------------------------------------
// Metadata rules (Kubernetes `ValidateObjectMeta`), as field causes
// ---------------------------------------------------------------------------

/// `metadata.name`: required, a DNS-1123 label, and at most `max_len`
/// characters (the hierarchy kinds use shorter limits than 63 because their
/// names are embedded in other names).
pub fn validate_name(field: &str, name: &str, max_len: usize) -> Vec<Cause> {
    if name.is_empty() {
        return vec![Cause::required(field)];
    }
    let mut causes = Vec::new();
    let limit = max_len.min(DNS1123_LABEL_MAX_LENGTH);
    let length = char_count(name);
    if length > limit {
        let detail = format!("must be no more than {limit} characters (got {length})");
        causes.push(invalid(field, name, &detail));
    }
    if let Some(detail) = dns1123_label_format_error(name) {
        causes.push(invalid(field, name, &detail));
    }
    causes
}

/// `metadata.name` of kinds named by DNS-1123 subdomains (≤ 253), as
/// Kubernetes names custom resources.
pub fn validate_subdomain_name(field: &str, name: &str) -> Vec<Cause> {
    if name.is_empty() {
        return vec![Cause::required(field)];
    }
    dns1123_subdomain_errors(name)
        .into_iter()
        .map(|detail| invalid(field, name, &detail))
        .collect()
}

/// `metadata.generateName`: a name prefix that may end with `-`, short enough
/// that the random suffix still fits in `max_len`.
///
/// An empty prefix is reported as required: call this only when the object
/// asks for a generated name.
pub fn validate_generate_name(field: &str, prefix: &str, max_len: usize) -> Vec<Cause> {
    if prefix.is_empty() {
        return vec![Cause::required(field)];
    }
    let mut causes = Vec::new();
    let limit = max_len
        .min(DNS1123_LABEL_MAX_LENGTH)
        .saturating_sub(GENERATED_SUFFIX_LENGTH);
    let length = char_count(prefix);
    if length > limit {
        let detail = format!(
            "must be no more than {limit} characters to leave room for the \
             {GENERATED_SUFFIX_LENGTH}-character random suffix (got {length})"
        );
        causes.push(invalid(field, prefix, &detail));
    }
    if let Some(detail) = dns1123_label_format_error(&mask_trailing_dash(prefix)) {
        causes.push(invalid(field, prefix, &detail));
    }
    causes
}

/// The name generated from `prefix` and a random `suffix`: like Kubernetes'
/// `SimpleNameGenerator`, the prefix is cut so that the whole name fits in
/// `max_len`. The suffix is never cut, since it is what makes the name unique.
pub fn generated_name(prefix: &str, suffix: &str, max_len: usize) -> String {
    let room = max_len.saturating_sub(char_count(suffix));
    let kept: String = prefix.chars().take(room).collect();
    format!("{kept}{suffix}")
}

/// `metadata.labels`: keys are qualified names, values are label values.
/// Every cause carries `field` (the map, as Kubernetes does) and names the
/// offending key in its message.
pub fn validate_labels(field: &str, labels: &BTreeMap<String, String>) -> Vec<Cause> {
    let mut causes = Vec::new();
    for (key, value) in labels {
        for detail in qualified_name_errors(key) {
            causes.push(invalid(field, key, &detail));
        }
        for detail in label_value_errors(value) {
            let message = format!("Invalid value: {value:?} (label {key:?}): {detail}");
            causes.push(Cause::invalid(field, message));
        }
    }
    causes
}

/// `metadata.annotations`: keys are qualified names (case-insensitively, as
/// Kubernetes checks them lowercased) and all keys and values together take
/// at most [`TOTAL_ANNOTATION_SIZE_LIMIT`] bytes.
pub fn validate_annotations(field: &str, annotations: &BTreeMap<String, String>) -> Vec<Cause> {
    let mut causes = Vec::new();
    for key in annotations.keys() {
        for detail in qualified_name_errors(&key.to_lowercase()) {
            causes.push(invalid(field, key, &detail));
        }
    }
    let size: usize = annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > TOTAL_ANNOTATION_SIZE_LIMIT {
        let message = format!(
            "Too long: may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT} bytes \
             (keys and values together take {size} bytes)"
        );
        causes.push(Cause::too_long(field, message));
    }
    causes
}

/// The finalizers Kubernetes' garbage collector reads contradict each other.
use crate::deletion::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER};

/// `metadata.finalizers`: each a qualified name (`example.com/cleanup`), and
/// not both `orphan` and `foregroundDeletion`. Causes carry `field` (the
/// list, as Kubernetes does) and name the finalizer in their message.
pub fn validate_finalizers(field: &str, finalizers: &[String]) -> Vec<Cause> {
    let mut causes: Vec<Cause> = finalizers
        .iter()
        .flat_map(|finalizer| {
            qualified_name_errors(finalizer)
                .into_iter()
                .map(move |detail| invalid(field, finalizer, &detail))
        })
        .collect();
    let has = |name: &str| finalizers.iter().any(|f| f == name);
    if has(ORPHAN_FINALIZER) && has(FOREGROUND_FINALIZER) {
        causes.push(Cause::invalid(
            field,
            format!("finalizer {ORPHAN_FINALIZER} and {FOREGROUND_FINALIZER} cannot be both set"),
        ));
    }
    causes
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A `FieldValueInvalid` cause worded like Kubernetes' `field.Invalid`.
fn invalid(field: &str, value: &str, detail: &str) -> Cause {
    Cause::invalid(field, format!("Invalid value: {value:?}: {detail}"))
}

/// The character rule of a DNS-1123 label, without its length rule (callers
/// with a tighter limit report length themselves).
fn dns1123_label_format_error(value: &str) -> Option<String> {
    if is_dns1123_label_format(value) {
        None
    } else if is_dns1123_subdomain_format(value) {
        // Only the dots are wrong; say so instead of quoting the pattern.
        Some("must not contain dots".to_string())
    } else {
        Some(regex_error(
            DNS1123_LABEL_ERR,
            DNS1123_LABEL_FMT,
            &["my-name", "123-abc"],
        ))
    }
}

/// A generated name ends with the random suffix, so a trailing `-` in the
/// prefix is fine; check the prefix as if that dash were a letter.
/// (A lone `-` stays invalid: the name would start with it.)
fn mask_trailing_dash(prefix: &str) -> String {
    match prefix.strip_suffix('-') {
        Some(head) if !head.is_empty() => format!("{head}a"),
        _ => prefix.to_string(),
    }
}

fn is_dns1123_label_format(value: &str) -> bool {
    let allowed = |c: char| is_lower_alphanumeric(c) || c == '-';
    starts_and_ends_with(value, is_lower_alphanumeric) && value.chars().all(allowed)
}

fn is_dns1123_subdomain_format(value: &str) -> bool {
    value.split('.').all(is_dns1123_label_format)
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`: the name part of a qualified
/// name, and any non-empty label value.
fn is_qualified_name_part(value: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    starts_and_ends_with(value, |c| c.is_ascii_alphanumeric()) && value.chars().all(allowed)
}

fn is_lower_alphanumeric(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// False for the empty string.
fn starts_and_ends_with(value: &str, rule: impl Fn(char) -> bool) -> bool {
    let mut chars = value.chars();
    let first = chars.next();
    let last = chars.next_back().or(first);
    first.is_some_and(&rule) && last.is_some_and(&rule)
}

fn char_count(value: &str) -> usize {
    value.chars().count()
}

fn max_len_error(limit: usize) -> String {
    format!("must be no more than {limit} characters")
}

/// Kubernetes' `RegexError`: the rule, examples, and the pattern it checks.
fn regex_error(message: &str, pattern: &str, examples: &[&str]) -> String {
    let examples: Vec<String> = examples.iter().map(|e| format!("'{e}'")).collect();
    let examples = examples.join(" or ");
    format!("{message} (e.g. {examples}, regex used for validation is '{pattern}')")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // --- DNS-1123 ------------------------------------------------------------

    #[test]
    fn subdomain_accepts_kubernetes_examples() {
        for ok in [
            "a",
            "ab",
            "a-b",
            "0",
            "a.b",
            "example.com",
            "1.2.3.4",
            "a--b.c-d",
        ] {
            assert!(
                dns1123_subdomain_errors(ok).is_empty(),
                "{ok:?} should be valid"
            );
        }
        assert!(dns1123_subdomain_errors(&"a".repeat(253)).is_empty());
    }

    #[test]
    fn subdomain_rejects_bad_characters_and_edges_with_the_kubernetes_message() {
        for bad in [
            "", "A", "a_b", "-a", "a-", ".a", "a.", "a..b", "a.-b", "a b", "é",
        ] {
            let errors = dns1123_subdomain_errors(bad);
            assert_eq!(errors.len(), 1, "{bad:?}: {errors:?}");
            assert_eq!(
                errors[0],
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
                 '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', \
                 regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            );
        }
    }

    #[test]
    fn subdomain_rejects_more_than_253_characters() {
        assert_eq!(
            dns1123_subdomain_errors(&"a".repeat(254)),
            vec!["must be no more than 253 characters"]
        );
    }

    #[test]
    fn label_accepts_and_rejects_like_kubernetes() {
        for ok in ["a", "0", "a-b", "a--b", "123-abc", "my-name"] {
            assert!(
                dns1123_label_errors(ok).is_empty(),
                "{ok:?} should be valid"
            );
        }
        assert!(dns1123_label_errors(&"a".repeat(63)).is_empty());
        assert_eq!(
            dns1123_label_errors(&"a".repeat(64)),
            vec!["must be no more than 63 characters"]
        );
        assert_eq!(dns1123_label_errors("a.b"), vec!["must not contain dots"]);
        let errors = dns1123_label_errors("My_Name");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("a lowercase RFC 1123 label must consist of"),
            "{errors:?}"
        );
        assert!(
            errors[0].contains("(e.g. 'my-name' or '123-abc', regex used for validation is"),
            "{errors:?}"
        );
    }

    #[test]
    fn label_reports_both_length_and_characters() {
        let errors = dns1123_label_errors(&format!("{}_", "a".repeat(70)));
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    // --- qualified names and label values -------------------------------------

    #[test]
    fn qualified_names_follow_the_label_key_rules() {
        for ok in [
            "a",
            "A",
            "MyName",
            "my.name",
            "123-abc",
            "a_b",
            "example.com/MyName",
            "a/b",
            "k8s.io/x",
        ] {
            assert!(
                is_qualified_name(ok),
                "{ok:?} should be valid: {:?}",
                qualified_name_errors(ok)
            );
        }
        let name63 = "a".repeat(63);
        assert!(is_qualified_name(&name63));
        assert!(is_qualified_name(&format!("{}/{name63}", "a".repeat(253))));
        for bad in [
            "",
            "-a",
            "a-",
            "_a",
            "a b",
            "a/b/c",
            "/a",
            "a/",
            "A.com/b",
            "a_b.com/c",
            "ä",
        ] {
            assert!(!is_qualified_name(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn qualified_name_messages_say_which_part_is_wrong() {
        assert_eq!(
            qualified_name_errors("/a"),
            vec!["prefix part must be non-empty"]
        );
        let errors = qualified_name_errors("a/");
        assert_eq!(errors[0], "name part must be non-empty");
        assert!(errors[1].starts_with("name part must consist of alphanumeric characters"));
        let errors = qualified_name_errors(&format!("x/{}", "a".repeat(64)));
        assert_eq!(errors, vec!["name part must be no more than 63 characters"]);
        let errors = qualified_name_errors("Bad_Prefix/a");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("prefix part a lowercase RFC 1123 subdomain"),
            "{errors:?}"
        );
        let errors = qualified_name_errors("a/b/c");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("a qualified name must consist of"),
            "{errors:?}"
        );
        assert!(errors[0].ends_with(
            "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ));
    }

    #[test]
    fn label_values_may_be_empty_but_not_malformed() {
        for ok in ["", "a", "MyValue", "my_value", "12345", "a.b-c_d"] {
            assert!(is_label_value(ok), "{ok:?} should be valid");
        }
        assert!(is_label_value(&"v".repeat(63)));
        assert_eq!(
            label_value_errors(&"v".repeat(64)),
            vec!["must be no more than 63 characters"]
        );
        for bad in ["-a", "a-", ".", "a b", "a/b", "a=b", "ü"] {
            let errors = label_value_errors(bad);
            assert_eq!(errors.len(), 1, "{bad:?}");
            assert!(errors[0].starts_with("a valid label must be an empty string or consist of"));
        }
    }

    // --- names ---------------------------------------------------------------

    #[test]
    fn name_is_required() {
        assert_eq!(
            validate_name("metadata.name", "", 50),
            vec![Cause::required("metadata.name")]
        );
    }

    #[test]
    fn name_within_the_kind_limit_is_valid() {
        assert!(validate_name("metadata.name", &"a".repeat(50), 50).is_empty());
        assert!(validate_name("metadata.name", "my-org-1", 50).is_empty());
    }

    #[test]
    fn name_over_the_kind_limit_says_limit_and_length() {
        let causes = validate_name("metadata.name", &"a".repeat(56), 55);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "metadata.name");
        assert_eq!(causes[0].reason, "FieldValueInvalid");
        assert!(
            causes[0]
                .message
                .ends_with("must be no more than 55 characters (got 56)"),
            "{}",
            causes[0].message
        );
    }

    #[test]
    fn name_limit_never_exceeds_the_dns_label_limit() {
        let causes = validate_name("metadata.name", &"a".repeat(64), 100);
        assert_eq!(causes.len(), 1);
        assert!(causes[0]
            .message
            .ends_with("must be no more than 63 characters (got 64)"));
    }

    #[test]
    fn name_must_be_a_dns_label() {
        let causes = validate_name("metadata.name", "My.Org", 50);
        assert_eq!(causes.len(), 1);
        assert!(causes[0]
            .message
            .starts_with("Invalid value: \"My.Org\": a lowercase RFC 1123 label"));
        let causes = validate_name("metadata.name", "my.org", 50);
        assert_eq!(
            causes[0].message,
            "Invalid value: \"my.org\": must not contain dots"
        );
    }

    #[test]
    fn name_reports_length_and_format_together() {
        let causes = validate_name("metadata.name", &"A".repeat(60), 50);
        assert_eq!(causes.len(), 2, "{causes:?}");
    }

    // --- generateName ----------------------------------------------------------

    #[test]
    fn generate_name_may_end_with_a_dash() {
        assert!(validate_generate_name("metadata.generateName", "my-project-", 55).is_empty());
        assert!(validate_generate_name("metadata.generateName", "a-", 55).is_empty());
        assert!(validate_generate_name("metadata.generateName", "abc", 55).is_empty());
    }

    #[test]
    fn generate_name_must_otherwise_be_a_label_prefix() {
        for bad in ["-", "-a", "My-", "a_b-", "a.b-", "a b"] {
            let causes = validate_generate_name("metadata.generateName", bad, 55);
            assert_eq!(causes.len(), 1, "{bad:?}: {causes:?}");
            assert_eq!(causes[0].field, "metadata.generateName");
        }
    }

    #[test]
    fn generate_name_leaves_room_for_the_suffix() {
        assert!(validate_generate_name("g", &"a".repeat(45), 50).is_empty());
        let causes = validate_generate_name("g", &"a".repeat(46), 50);
        assert_eq!(causes.len(), 1);
        assert!(
            causes[0]
                .message
                .ends_with("must be no more than 45 characters to leave room for the 5-character random suffix (got 46)"),
            "{}",
            causes[0].message
        );
    }

    #[test]
    fn generate_name_empty_is_required() {
        assert_eq!(
            validate_generate_name("g", "", 63),
            vec![Cause::required("g")]
        );
    }

    #[test]
    fn generated_name_cuts_the_prefix_to_fit() {
        assert_eq!(generated_name("proj-", "x7k2p", 55), "proj-x7k2p");
        let long = "p".repeat(60);
        let name = generated_name(&long, "abcde", 55);
        assert_eq!(name.len(), 55);
        assert!(name.ends_with("abcde"));
        assert_eq!(generated_name("abc", "abcde", 3), "abcde");
    }

    // --- labels ----------------------------------------------------------------

    #[test]
    fn valid_labels_have_no_causes() {
        let labels = map(&[
            ("app", "web"),
            ("example.com/tier", ""),
            ("k8s.io/Mixed_Case", "V.1-x_y"),
        ]);
        assert!(validate_labels("metadata.labels", &labels).is_empty());
    }

    #[test]
    fn bad_label_key_names_the_key() {
        let causes = validate_labels("metadata.labels", &map(&[("bad key", "v")]));
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "metadata.labels");
        assert_eq!(causes[0].reason, "FieldValueInvalid");
        assert!(causes[0]
            .message
            .starts_with("Invalid value: \"bad key\": name part must consist of"));
    }

    #[test]
    fn bad_label_value_names_value_and_key() {
        let causes = validate_labels("metadata.labels", &map(&[("app", "-web")]));
        assert_eq!(causes.len(), 1);
        assert!(
            causes[0]
                .message
                .starts_with("Invalid value: \"-web\" (label \"app\"): a valid label must be"),
            "{}",
            causes[0].message
        );
    }

    #[test]
    fn every_bad_label_is_reported() {
        let labels = map(&[("-a", "ok"), ("b", &"x".repeat(64)), ("c", "ok")]);
        assert_eq!(validate_labels("metadata.labels", &labels).len(), 2);
    }

    // --- finalizers --------------------------------------------------------------

    #[test]
    fn finalizers_are_qualified_names() {
        let list = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let good = list(&["example.com/cleanup", "plain", "orphan", "kubernetes"]);
        assert!(validate_finalizers("metadata.finalizers", &good).is_empty());
        for bad in [
            "not a name",
            "example.com/",
            "/x",
            "-x",
            "a/b/c",
            "Bad_Prefix/x",
            "",
        ] {
            let causes = validate_finalizers("metadata.finalizers", &list(&[bad]));
            assert!(!causes.is_empty(), "{bad:?}");
            assert!(causes.iter().all(|c| c.field == "metadata.finalizers"));
            assert!(
                causes[0].message.contains(&format!("{bad:?}")),
                "{causes:?}"
            );
        }
        let both = list(&["orphan", "foregroundDeletion"]);
        assert_eq!(validate_finalizers("metadata.finalizers", &both).len(), 1);
    }

    // --- annotations -------------------------------------------------------------

    #[test]
    fn annotation_keys_are_checked_case_insensitively() {
        let ok = map(&[
            ("Example.COM/Some-Key", "any value at all: spaces, /, ="),
            ("x", ""),
        ]);
        assert!(validate_annotations("metadata.annotations", &ok).is_empty());
        let causes = validate_annotations("metadata.annotations", &map(&[("not valid", "v")]));
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "metadata.annotations");
        assert!(causes[0]
            .message
            .starts_with("Invalid value: \"not valid\""));
    }

    #[test]
    fn annotations_at_the_size_limit_are_valid() {
        let value = "v".repeat(TOTAL_ANNOTATION_SIZE_LIMIT - 1);
        assert!(validate_annotations("a", &map(&[("k", &value)])).is_empty());
    }

    #[test]
    fn annotations_over_the_size_limit_say_limit_and_size() {
        let value = "v".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        let causes = validate_annotations("metadata.annotations", &map(&[("k", &value)]));
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].reason, "FieldValueTooLong");
        assert_eq!(causes[0].field, "metadata.annotations");
        assert_eq!(
            causes[0].message,
            "Too long: may not be more than 262144 bytes (keys and values together take 262145 bytes)"
        );
    }

    // --- properties ------------------------------------------------------------

    proptest! {
        #[test]
        fn every_dns_label_is_a_subdomain_and_a_qualified_name(value in "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?") {
            prop_assert!(dns1123_label_errors(&value).is_empty());
            prop_assert!(dns1123_subdomain_errors(&value).is_empty());
            prop_assert!(is_qualified_name(&value));
            prop_assert!(is_label_value(&value));
        }

        #[test]
        fn the_rules_agree_with_their_patterns(value in "[-A-Za-z0-9_./ ]{0,12}") {
            // A direct reading of the Kubernetes regexes, as an oracle.
            let alnum = |c: char| c.is_ascii_alphanumeric();
            let lower = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
            let label = |s: &str| {
                !s.is_empty()
                    && s.starts_with(lower)
                    && s.ends_with(lower)
                    && s.chars().all(|c| lower(c) || c == '-')
            };
            let name_part = |s: &str| {
                !s.is_empty()
                    && s.starts_with(alnum)
                    && s.ends_with(alnum)
                    && s.chars().all(|c| alnum(c) || "-_.".contains(c))
            };
            prop_assert_eq!(dns1123_label_errors(&value).is_empty(), label(&value));
            prop_assert_eq!(
                dns1123_subdomain_errors(&value).is_empty(),
                value.split('.').all(label)
            );
            prop_assert_eq!(is_label_value(&value), value.is_empty() || name_part(&value));
            let qualified = match value.split_once('/') {
                None => name_part(&value),
                Some((prefix, name)) => {
                    !name.contains('/') && prefix.split('.').all(label) && name_part(name)
                }
            };
            prop_assert_eq!(is_qualified_name(&value), qualified);
        }

        #[test]
        fn generated_names_fit_and_keep_the_suffix(
            prefix in "[a-z][-a-z0-9]{0,80}",
            suffix in "[a-z0-9]{5}",
            max_len in 5usize..70,
        ) {
            let name = generated_name(&prefix, &suffix, max_len);
            prop_assert!(name.len() <= max_len);
            prop_assert!(name.ends_with(&suffix));
            prop_assert!(prefix.starts_with(&name[..name.len() - suffix.len()]));
        }

        #[test]
        fn a_valid_generate_name_yields_a_valid_name(
            prefix in "[a-z0-9]([-a-z0-9]{0,40})?-?",
            suffix in "[a-z0-9]{5}",
        ) {
            prop_assume!(validate_generate_name("g", &prefix, 50).is_empty());
            let name = generated_name(&prefix, &suffix, 50);
            prop_assert_eq!(validate_name("n", &name, 50), vec![]);
        }
    }
}
