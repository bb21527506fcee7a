//! `--watch`: rebuild the functions when the workspace's files change, then
//! retire the running instances so new work meets the new build (what
//! `cargo lambda watch` did for `make dev`).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::runtime_api::Function;

/// Directories never watched (besides hidden ones: the local stack, VCS).
const SKIPPED: &[&str] = &["target", "node_modules"];
/// The kinds of file a build reads: sources, manifests, and the documents
/// compiled in (the built-in CRDs, the SAM template).
const BUILT_FROM: &[&str] = &["rs", "toml", "lock", "yaml", "yml", "json"];

/// A digest of the path, size and modification time of every file under
/// `root` that a build reads.
pub fn fingerprint(root: &Path) -> u64 {
    let mut files = Vec::new();
    collect(root, &mut files);
    files.sort();
    let mut hasher = DefaultHasher::new();
    files.hash(&mut hasher);
    hasher.finish()
}

fn collect(dir: &Path, files: &mut Vec<(PathBuf, u64, u128)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.starts_with("target") || SKIPPED.contains(&name.as_ref()) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            collect(&path, files);
        } else if path
            .extension()
            .is_some_and(|ext| BUILT_FROM.iter().any(|b| ext == *b))
        {
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            files.push((path, meta.len(), modified));
        }
    }
}

/// Polls `root` every second; after a change has settled, runs `build` (in
/// `root`) and, when it succeeds, retires every function's instances. A
/// failed build leaves the previous one serving.
pub async fn watch(root: PathBuf, build: Vec<String>, functions: Vec<Arc<Function>>) {
    let mut built = fingerprint(&root);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let seen = fingerprint(&root);
        if seen == built {
            continue;
        }
        // Let an editor's burst of writes finish first.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let settled = fingerprint(&root);
        if settled != seen {
            continue;
        }
        built = settled;
        eprintln!("lambda-local: files changed; running {}", build.join(" "));
        let Some((program, args)) = build.split_first() else {
            return;
        };
        let status = tokio::process::Command::new(program)
            .args(args)
            .current_dir(&root)
            .stdin(std::process::Stdio::null())
            .status()
            .await;
        match status {
            Ok(status) if status.success() => {
                eprintln!("lambda-local: rebuilt; new instances serve the new build");
                for function in &functions {
                    function.retire_instances();
                }
            }
            Ok(status) => {
                eprintln!("lambda-local: build failed ({status}); still serving the previous build")
            }
            Err(err) => eprintln!("lambda-local: cannot run {program}: {err}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_change_the_fingerprint_and_prose_does_not() {
        let root =
            std::env::temp_dir().join(format!("lambda-local-watch-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(root.join("target")).unwrap();
        std::fs::write(root.join("src/main.rs"), "fn main() {}").unwrap();
        let first = fingerprint(&root);
        std::fs::write(root.join("README.md"), "prose").unwrap();
        std::fs::write(root.join("target/out.rs"), "built").unwrap();
        assert_eq!(fingerprint(&root), first);
        std::fs::write(root.join("src/main.rs"), "fn main() { }").unwrap();
        assert_ne!(fingerprint(&root), first);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
