//! `--watch`: rebuild the functions when the workspace's files change, then
//! retire the running instances so new work meets the new build (what
//! `cargo lambda watch` did for `make dev`).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::runtime_api::Function;

/// Directories never watched: build output, the local stack, VCS, packages.
const SKIPPED: &[&str] = &["target", "node_modules"];

/// A digest of every watched file's path, size and modification time.
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
        } else {
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
