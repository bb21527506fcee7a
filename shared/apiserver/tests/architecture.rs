//! The architecture's invariants that a reading of the source can check
//! (ARCHITECTURE.md, "Architecture invariants"). Text-level, as a reviewer
//! would read the imports: `use crate::m` and `crate::m::` paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The crate's top-level modules (a file, or a directory read whole) and
/// which others each one names. lib.rs, the composition root every module
/// reaches for `ApiServer` and `Call`, is left out.
fn module_imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut texts = BTreeMap::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path.file_stem().and_then(|n| n.to_str()) else {
            continue;
        };
        let text = if path.is_dir() {
            rust_files_text(&path)
        } else if path.extension().is_some_and(|e| e == "rs") && name != "lib" {
            std::fs::read_to_string(&path).unwrap()
        } else {
            continue;
        };
        texts.insert(name.to_string(), text);
    }
    let mut imports = BTreeMap::new();
    for (module, text) in &texts {
        let named: BTreeSet<String> = texts
            .keys()
            .filter(|other| *other != module)
            .filter(|other| {
                text.contains(&format!("crate::{other}::"))
                    || text.contains(&format!("crate::{other};"))
                    || text.contains(&format!("use crate::{other}"))
                    || names_in_braces(text).contains(other.as_str())
            })
            .cloned()
            .collect();
        imports.insert(module.clone(), named);
    }
    imports
}

/// Every .rs file below `dir`, concatenated.
fn rust_files_text(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            text.push_str(&rust_files_text(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            text.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    text
}

/// The lowercase names in `use crate::{a, b::c, Root}` groups.
fn names_in_braces(text: &str) -> BTreeSet<&str> {
    let mut names = BTreeSet::new();
    for group in text.split("use crate::{").skip(1) {
        let inside = group.split('}').next().unwrap_or_default();
        for item in inside.split(',') {
            let head = item.trim().split("::").next().unwrap_or_default();
            let head = head.split_whitespace().next().unwrap_or_default();
            if head.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                names.insert(head);
            }
        }
    }
    names
}

/// A circle of imports, if there is one (depth-first search).
fn find_circle(imports: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        imports: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in imports.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, imports, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    imports
        .keys()
        .find_map(|m| visit(m, imports, &mut Vec::new(), &mut done))
}

#[test]
fn the_request_pipeline_has_no_import_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let imports = module_imports(&src);
    assert!(imports.len() > 10, "modules read: {imports:?}");
    assert!(
        imports["objects"].contains("hooks"),
        "a directory module is read whole: {imports:?}"
    );
    if let Some(circle) = find_circle(&imports) {
        panic!(
            "shared/apiserver modules import each other in a circle: {}",
            circle.join(" -> ")
        );
    }
}

#[test]
fn a_circle_is_found_when_there_is_one() {
    let imports = BTreeMap::from([
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["c".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
    ]);
    assert_eq!(
        find_circle(&imports),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    let names = names_in_braces("use crate::{context_policies, crds::stamp, ApiServer};");
    assert_eq!(names, BTreeSet::from(["context_policies", "crds"]));
}

/// The registry's modules: the verbs, the list, the dispatch of every
/// resource path and the write set.
const REGISTRY: [&str; 4] = ["objects", "list.rs", "resources.rs", "write_set.rs"];

/// `Kind` as a Rust constant names it: `ProjectSuspension` → `PROJECT_SUSPENSION`.
fn screaming(kind: &str) -> String {
    let mut out = String::new();
    for (i, c) in kind.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Whether `word` stands in `text` as a whole identifier.
fn names_identifier(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// Which built-in kinds `text` names: as a string (`"Project"`) or as its
/// constant (`kinds::PROJECT`, `PROJECT`).
fn builtin_kinds_named(text: &str) -> Vec<String> {
    let catalog = domain::catalog::Catalog::builtin().unwrap();
    let mut named: Vec<String> = catalog
        .served_in(domain::kinds::ContextKind::Platform)
        .map(|k| k.kind.clone())
        .filter(|kind| {
            text.contains(&format!("\"{kind}\"")) || names_identifier(text, &screaming(kind))
        })
        .collect();
    named.sort();
    named.dedup();
    named
}

#[test]
fn the_registry_names_no_built_in_kind() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for module in REGISTRY {
        let path = src.join(module);
        let text = if path.is_dir() {
            rust_files_text(&path)
        } else {
            std::fs::read_to_string(&path).unwrap()
        };
        let named = builtin_kinds_named(&text);
        assert!(
            named.is_empty(),
            "{module} names built-in kinds {named:?}: their behaviour belongs in their strategy (strategy/)"
        );
    }
}

#[test]
fn a_kind_named_in_the_source_is_found() {
    assert_eq!(screaming("ProjectSuspension"), "PROJECT_SUSPENSION");
    let text = "if kind.is(&kinds::PROJECT) { m(\"Folder\") } ORGANIZATION_LABEL";
    assert_eq!(builtin_kinds_named(text), vec!["Folder", "Project"]);
}

/// What a hook may not read: the HTTP call (`Call`, its method, headers or
/// query) or anything of the `http` crate. A background worker has none.
fn request_only_parts(text: &str) -> Vec<&'static str> {
    [
        "Call<",
        "Call {",
        "crate::Call",
        ", Call}",
        "http::",
        ".call.",
        "call:",
    ]
    .into_iter()
    .filter(|part| text.contains(part))
    .collect()
}

#[test]
fn hooks_read_nothing_a_background_worker_does_not_have() {
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/hooks");
    let text = rust_files_text(&hooks);
    assert!(
        text.contains("pub(crate) async fn on_delete"),
        "hooks read: {hooks:?}"
    );
    assert_eq!(request_only_parts(&text), Vec::<&str>::new());
    // What quota's adapter read before it became a hook is caught.
    let before = "pub call: &'a Call<'a>,\n let now = self.call.timestamp();";
    assert_eq!(request_only_parts(before), vec!["Call<", ".call.", "call:"]);
}

/// Every .rs file below `dir` but test files (`tests*.rs`, `tests/`), with
/// its text up to its test module.
fn rust_files(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with("tests") {
            continue;
        }
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            files.push((path.display().to_string(), code.to_string()));
        }
    }
    files
}

/// Each function in `code` and its length in lines: from its `fn` line to
/// the closing brace at the same indentation.
fn function_lengths(code: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut found = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let head = ["pub(crate) ", "pub(super) ", "pub ", "async ", "const "]
            .iter()
            .fold(trimmed, |rest, prefix| {
                rest.strip_prefix(prefix).unwrap_or(rest)
            });
        let head = head.strip_prefix("async ").unwrap_or(head);
        let Some(signature) = head.strip_prefix("fn ") else {
            continue;
        };
        let name = signature.split(['(', '<']).next().unwrap_or_default();
        if trimmed.ends_with('}') || trimmed.ends_with(';') {
            found.push((name.to_string(), 1));
            continue;
        }
        let indent = line.len() - trimmed.len();
        let close = format!("{}}}", " ".repeat(indent));
        let end = lines[at..]
            .iter()
            .position(|l| l.trim_end() == close)
            .unwrap_or(0);
        found.push((name.to_string(), end + 1));
    }
    found
}

/// "About 600 lines" a module, "about 80" a function (the registry issue).
const MAX_MODULE_LINES: usize = 620;
const MAX_FUNCTION_LINES: usize = 85;

#[test]
fn no_module_or_function_on_the_request_path_outgrows_one_reading() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = rust_files(&src);
    assert!(files.len() > 30, "files read: {}", files.len());
    let mut too_long = Vec::new();
    for (path, code) in &files {
        let lines = code.lines().count();
        if lines > MAX_MODULE_LINES {
            too_long.push(format!("{path}: {lines} lines"));
        }
        for (name, length) in function_lengths(code) {
            if length > MAX_FUNCTION_LINES {
                too_long.push(format!("{path}: fn {name}: {length} lines"));
            }
        }
    }
    assert!(too_long.is_empty(), "split these: {too_long:#?}");
}

/// The crates below the request pipeline: the store and the domain's rules.
#[test]
fn no_module_the_request_path_reaches_outgrows_one_reading() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut too_long = Vec::new();
    for krate in ["store", "domain"] {
        let files = rust_files(&shared.join(krate).join("src"));
        assert!(!files.is_empty(), "{krate}: no files read");
        for (path, code) in files {
            let lines = code.lines().count();
            if lines > MAX_MODULE_LINES {
                too_long.push(format!("{path}: {lines} lines"));
            }
        }
    }
    assert!(too_long.is_empty(), "split these: {too_long:#?}");
}

#[test]
fn a_functions_length_runs_to_its_closing_brace() {
    let code = "impl A {\n    pub(crate) async fn long(&self) {\n        a();\n        b();\n    }\n\n    fn short() {}\n}\nfn free<T>() {\n}\n";
    assert_eq!(
        function_lengths(code),
        vec![
            ("long".to_string(), 4),
            ("short".to_string(), 1),
            ("free".to_string(), 2)
        ]
    );
}

/// Quota's words: what the store must not name.
const QUOTA_TERMS: [&str; 6] = ["quota", "bucket", "claim", "grant", "headroom", "allowance"];

/// The quota terms `text` names, case-insensitive.
fn quota_terms_named(text: &str) -> Vec<&'static str> {
    let text = text.to_lowercase();
    QUOTA_TERMS
        .into_iter()
        .filter(|term| text.contains(term))
        .collect()
}

#[test]
fn the_store_knows_nothing_of_quota() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../store/src");
    let text = rust_files_text(&src);
    assert!(text.contains("pub struct Store"), "store/src read");
    let named = quota_terms_named(&text);
    assert!(
        named.is_empty(),
        "shared/store/src names {named:?}: quota's meaning belongs in hooks/quota/ (the store keeps counter items)"
    );
}

#[test]
fn a_quota_term_is_found_in_any_case() {
    assert_eq!(
        quota_terms_named("pub use bucket::{BucketWrite}; // HeadRoom"),
        vec!["bucket", "headroom"]
    );
    assert!(quota_terms_named("counters, conditions").is_empty());
}

/// Whether a Cargo manifest's `[dependencies]` name `krate`.
fn depends_on(manifest: &str, krate: &str) -> bool {
    manifest
        .split("\n[")
        .filter(|section| {
            section.starts_with("dependencies]") || section.starts_with("[dependencies]")
        })
        .flat_map(str::lines)
        .any(|line| {
            let name = line.split(['=', '.', ' ']).next().unwrap_or_default();
            name == krate
        })
}

#[test]
fn events_never_come_from_the_request_path() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("shared/apiserver/Cargo.toml");
    assert!(depends_on(&manifest, "store"), "the manifest was read");
    assert!(
        !depends_on(&manifest, "feed"),
        "shared/apiserver depends on shared/feed: the change feed reads the table's stream, never the request path"
    );
}

#[test]
fn a_dependency_is_found_in_the_dependencies_section_only() {
    let manifest = "[package]\nname = \"x\"\n\n[dependencies]\nfeed.workspace = true\n\n[dev-dependencies]\nother = \"1\"\n";
    assert!(depends_on(manifest, "feed"));
    assert!(!depends_on(manifest, "other"));
    assert!(!depends_on(manifest, "x"));
}
