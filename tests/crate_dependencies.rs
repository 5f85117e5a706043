//! Checks the crate dependency rules of `docs/architecture.md` §2 ("Crates and what each may
//! import") against what `cargo metadata` reports, so a forbidden edge (say `kraft` → `storage`,
//! or `bridge` → `kraft`) fails the build's tests instead of creeping in.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Workspace crate → the workspace crates it may depend on (normal dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    ("protocol", &[]),
    ("metadata", &["protocol"]),
    ("storage", &["protocol"]),
    ("kraft", &["protocol", "metadata"]),
    ("legacy", &["protocol", "metadata"]),
    ("bridge", &["protocol", "metadata", "legacy"]),
    ("sim", &["protocol"]),
    (
        "kraftbridge",
        &[
            "protocol", "metadata", "storage", "kraft", "legacy", "bridge",
        ],
    ),
];

#[test]
fn workspace_crates_depend_only_on_what_design_allows() {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let members: BTreeSet<String> = packages
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();

    for p in packages {
        let name = p["name"].as_str().expect("name");
        let Some(permitted) = allowed.get(name) else {
            panic!("crate {name} is not in docs/architecture.md §2: add it there and here");
        };
        for dep in p["dependencies"].as_array().expect("dependencies") {
            let dep_name = dep["name"].as_str().expect("dependency name");
            // Only normal dependencies on workspace crates are constrained; dev-dependencies
            // (tests) may use anything.
            if !members.contains(dep_name) || dep["kind"].is_string() {
                continue;
            }
            assert!(
                permitted.contains(&dep_name),
                "{name} depends on {dep_name}, not allowed by docs/architecture.md §2 \
                 (allowed: {permitted:?})"
            );
        }
    }
}
