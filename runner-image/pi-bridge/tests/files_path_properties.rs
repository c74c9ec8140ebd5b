//! Property tests of the files channel's path handling: `WorkspacePath::parse` refuses exactly
//! the NUL, absolute and `..` paths (naming the field), and no sequence of operations on any
//! path, through symlinks that lead out (absolute, relative, to the parent, dangling, looping),
//! reads, lists, writes, moves or deletes anything outside the workspace root.
#![allow(clippy::unwrap_used)] // Tests: a failed step is a failed test.

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use oqto_pi_bridge::files::{FileError, Workspace, WorkspacePath};
use proptest::prelude::*;

const SECRET: &[u8] = b"outside the workspace";

/// Components a hostile client would use: traversal, links out, links in, NUL, and names that
/// exist on both sides.
const COMPONENTS: [&str; 17] = [
    "..",
    ".",
    "",
    "sub",
    "up",
    "abs",
    "rel",
    "deep",
    "self",
    "loop",
    "file.txt",
    "outside",
    "secret.txt",
    "ws",
    "new",
    "a\0b",
    "...",
];

fn raw_path() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (
            prop::sample::select(vec!["", "", "", "/", "//", "./"]),
            prop::collection::vec(prop::sample::select(COMPONENTS.to_vec()), 0..5),
        )
            .prop_map(|(lead, parts)| format!("{lead}{}", parts.join("/"))),
        1 => ".{0,20}",
    ]
}

/// `<tmp>/outside/secret.txt` beside the workspace `<tmp>/ws`, whose links lead out in every way.
fn layout() -> (tempfile::TempDir, PathBuf, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), SECRET).unwrap();
    let root = dir.path().join("ws");
    let workspace = Workspace::open(&root).unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    std::fs::write(root.join("sub/file.txt"), b"inside").unwrap();
    symlink("..", root.join("up")).unwrap();
    symlink(&outside, root.join("abs")).unwrap();
    symlink("../outside", root.join("rel")).unwrap();
    symlink("../../outside/secret.txt", root.join("sub/deep")).unwrap();
    symlink(".", root.join("self")).unwrap();
    symlink("loop", root.join("loop")).unwrap();
    let root = root.canonicalize().unwrap();
    (dir, root, workspace)
}

/// Everything under `dir` except the workspace: path → content (or a marker for directories
/// and links), symlinks not followed.
fn snapshot(dir: &Path, root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut todo = vec![dir.canonicalize().unwrap()];
    while let Some(at) = todo.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path == root {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let content = if meta.is_dir() {
                todo.push(path.clone());
                b"<dir>".to_vec()
            } else if meta.is_symlink() {
                b"<link>".to_vec()
            } else {
                std::fs::read(&path).unwrap()
            };
            found.insert(path, content);
        }
    }
    found
}

#[derive(Debug, Clone)]
enum Op {
    Read(String),
    Stat(String),
    List(String),
    Tree(String),
    Write(String, bool),
    CreateDirectory(String, bool),
    Delete(String, bool),
    Rename(String, String),
    Copy(String, String, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        raw_path().prop_map(Op::Read),
        raw_path().prop_map(Op::Stat),
        raw_path().prop_map(Op::List),
        raw_path().prop_map(Op::Tree),
        (raw_path(), any::<bool>()).prop_map(|(p, parents)| Op::Write(p, parents)),
        (raw_path(), any::<bool>()).prop_map(|(p, parents)| Op::CreateDirectory(p, parents)),
        (raw_path(), any::<bool>()).prop_map(|(p, recursive)| Op::Delete(p, recursive)),
        (raw_path(), raw_path()).prop_map(|(from, to)| Op::Rename(from, to)),
        (raw_path(), raw_path(), any::<bool>()).prop_map(|(from, to, o)| Op::Copy(from, to, o)),
    ]
}

/// Whether `raw` should be refused before touching the file system.
fn refusable(raw: &str) -> bool {
    raw.contains('\0') || raw.starts_with('/') || raw.split('/').any(|c| c == "..")
}

/// The deepest existing ancestor of `root/path`, resolved, is inside the root.
fn resolves_inside(root: &Path, path: &WorkspacePath) -> bool {
    let mut at = root.join(path.as_dir_path());
    loop {
        if let Ok(resolved) = at.canonicalize() {
            return resolved.starts_with(root);
        }
        if !at.pop() {
            return false;
        }
    }
}

/// Runs `op`; on success checks where its paths resolve. Errors must name their field.
fn run(workspace: &Workspace, root: &Path, op: &Op) -> Result<(), TestCaseError> {
    let parse = |raw: &str, field| WorkspacePath::parse(raw, field);
    let result: Result<Vec<WorkspacePath>, FileError> = (|| {
        Ok(match op {
            Op::Read(p) => {
                let p = parse(p, "path")?;
                let (content, _, _) = workspace.read(&p)?;
                assert_ne!(content, SECRET, "read {p:?}");
                vec![p]
            }
            Op::Stat(p) => {
                let p = parse(p, "path")?;
                workspace.stat(&p)?;
                // A link is stat'ed itself: where it points does not matter.
                p.parent().into_iter().collect()
            }
            Op::List(p) => {
                let p = parse(p, "path")?;
                let entries = workspace.list(&p, true)?;
                // Earlier operations may have made a `secret.txt` of the workspace's own (the
                // generated names include it); what must never show is the one outside.
                // (A refused read is fine: a link named so may lead out, and reads refuse it.)
                for entry in entries.iter().filter(|e| e.name == "secret.txt") {
                    if let Ok((content, _, _)) = workspace.read(&p.join(&entry.name)) {
                        assert_ne!(content, SECRET, "list {p:?} shows the secret outside");
                    }
                }
                vec![p]
            }
            Op::Tree(p) => {
                let p = parse(p, "path")?;
                workspace.tree(&p, 8, true, 1000)?;
                vec![p]
            }
            Op::Write(p, parents) => {
                let p = parse(p, "path")?;
                workspace.write(&p, b"written", *parents)?;
                vec![p]
            }
            Op::CreateDirectory(p, parents) => {
                let p = parse(p, "path")?;
                workspace.create_directory(&p, *parents)?;
                vec![p]
            }
            Op::Delete(p, recursive) => {
                let p = parse(p, "path")?;
                workspace.delete(&p, *recursive)?;
                p.parent().into_iter().collect()
            }
            Op::Rename(from, to) => {
                let (from, to) = (parse(from, "from")?, parse(to, "to")?);
                workspace.rename(&from, &to, false)?;
                to.parent().into_iter().collect()
            }
            Op::Copy(from, to, overwrite) => {
                let (from, to) = (parse(from, "from")?, parse(to, "to")?);
                workspace.copy(&from, &to, *overwrite)?;
                vec![to]
            }
        })
    })();
    match result {
        Ok(paths) => {
            for path in paths {
                prop_assert!(resolves_inside(root, &path), "{op:?} succeeded at {path:?}");
            }
        }
        Err(error) => {
            let message = error.to_string();
            prop_assert!(
                ["path:", "from:", "to:"]
                    .iter()
                    .any(|f| message.starts_with(f)),
                "{op:?}: {message}"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Refused exactly when the path has a NUL, is absolute or climbs; accepted paths are
    /// relative and clean.
    #[test]
    fn only_relative_paths_without_dot_dot_or_nul_are_accepted(raw in raw_path()) {
        match WorkspacePath::parse(&raw, "from") {
            Ok(path) => {
                prop_assert!(!refusable(&raw), "{raw:?} accepted");
                let shown = path.display();
                prop_assert!(!shown.starts_with('/') && !shown.contains('\0'), "{shown:?}");
                prop_assert!(shown.split('/').all(|c| c != ".." && c != "." ), "{shown:?}");
                prop_assert_eq!(path.is_root(), shown.is_empty());
            }
            Err(error) => {
                prop_assert!(refusable(&raw), "{raw:?} refused: {error}");
                let is_invalid_path = matches!(error, FileError::InvalidPath { field: "from", .. });
                prop_assert!(is_invalid_path, "{error:?}");
                prop_assert!(error.to_string().starts_with("from: invalid path"), "{error}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// No sequence of operations reads or changes anything outside the workspace.
    #[test]
    fn operations_stay_inside_the_workspace(ops in prop::collection::vec(op(), 1..8)) {
        let (dir, root, workspace) = layout();
        let before = snapshot(dir.path(), &root);
        for op in &ops {
            run(&workspace, &root, op)?;
        }
        prop_assert_eq!(snapshot(dir.path(), &root), before);
    }
}

/// Paths into the source through the workspace's own links (`self` → `.`, `sub/again` → `..`).
fn copy_path() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!["self", "sub", "again", "file.txt", "link", "new"]),
        1..5,
    )
    .prop_map(|parts| parts.join("/"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A copy ends (no endless recursion into its own target, no endless loop on a source that
    /// shrinks), and never damages its source: copying onto itself, through a symlink or a hard
    /// link, is refused.
    #[test]
    fn copies_end_and_leave_their_source_intact(from in copy_path(), to in copy_path(), overwrite in any::<bool>()) {
        let (_dir, root, workspace) = layout();
        symlink("..", root.join("sub/again")).unwrap();
        std::fs::hard_link(root.join("sub/file.txt"), root.join("link")).unwrap();
        let (from, to) = (WorkspacePath::parse(&from, "from").unwrap(), WorkspacePath::parse(&to, "to").unwrap());
        if let Err(error) = workspace.copy(&from, &to, overwrite) {
            let message = error.to_string();
            prop_assert!(message.starts_with("from:") || message.starts_with("to:"), "{message}");
        }
        prop_assert_eq!(std::fs::read(root.join("sub/file.txt")).unwrap(), b"inside");
    }
}
