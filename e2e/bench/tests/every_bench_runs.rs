//! `hack/bench.sh` runs every benchmark of the workspace: a bench added to a crate but not to
//! the script would silently drop out of the table.

#![allow(clippy::unwrap_used)] // A test that cannot read the manifests has nothing to check.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `(package, bench)` of every `[[bench]]` in the workspace's members.
fn workspace_benches() -> Vec<(String, String)> {
    let root = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let members = root
        .split("members = [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap();
    let mut benches = Vec::new();
    for member in members.split(',').map(|m| m.trim().trim_matches('"')) {
        if member.is_empty() {
            continue;
        }
        let manifest = std::fs::read_to_string(repo().join(member).join("Cargo.toml")).unwrap();
        let package = manifest
            .lines()
            .find_map(|l| l.strip_prefix("name = \""))
            .map(|n| n.trim_end_matches('"').to_owned())
            .unwrap();
        for section in manifest.split("[[bench]]").skip(1) {
            let name = section
                .lines()
                .find_map(|l| l.trim().strip_prefix("name = \""))
                .map(|n| n.trim_end_matches('"').to_owned())
                .unwrap();
            benches.push((package.clone(), name));
        }
    }
    benches
}

#[test]
fn the_bench_command_runs_every_bench_of_the_workspace() {
    let benches = workspace_benches();
    assert!(benches.len() >= 10, "found only {benches:?}");
    // Ask the script itself how it maps its names to packages and bench targets.
    let list = std::process::Command::new("bash")
        .arg(repo().join("hack/bench.sh"))
        .arg("--list")
        .output()
        .unwrap();
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let listed: Vec<(String, String)> = String::from_utf8(list.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace().skip(1);
            Some((words.next()?.to_owned(), words.next()?.to_owned()))
        })
        .collect();
    for bench in &benches {
        assert!(
            listed.contains(bench),
            "hack/bench.sh does not run {} --bench {} (it runs {listed:?})",
            bench.0,
            bench.1
        );
    }
    assert_eq!(
        listed.len(),
        benches.len(),
        "a listed bench no crate has: {listed:?}"
    );
}
