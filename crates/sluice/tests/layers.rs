//! The workspace's layering rule, checked: each crate may depend only on the sluice crates
//! below it (ARCHITECTURE.md). A new edge must be added here on purpose.

use std::collections::BTreeSet;
use std::path::Path;

/// For each crate, the sluice crates it may depend on.
const ALLOWED: &[(&str, &[&str])] = &[
    ("sluice-core", &[]),
    ("sluice-op", &["sluice-core"]),
    ("sluice-data", &["sluice-core", "sluice-op"]),
    ("sluice-kernels", &[]),
    ("sluice-embed", &["sluice-kernels"]),
    ("sluice-ml", &["sluice-kernels"]),
    ("sluice-vector", &["sluice-data", "sluice-embed"]),
    ("sluice-store", &["sluice-core"]),
    ("sluice-objects", &[]),
    ("sluice-link", &["sluice-core", "sluice-data", "sluice-op"]),
    ("sluice-datahub", &["sluice-op"]),
    ("sluice-dbt", &["sluice-core"]),
    ("sluice-docs", &["sluice-core", "sluice-data", "sluice-op"]),
    (
        "sluice-ops",
        &[
            "sluice-core",
            "sluice-data",
            "sluice-datahub",
            "sluice-docs",
            "sluice-embed",
            "sluice-link",
            "sluice-ml",
            "sluice-objects",
            "sluice-op",
            "sluice-vector",
        ],
    ),
    (
        "sluice-engine",
        &["sluice-core", "sluice-op", "sluice-store"],
    ),
    (
        "sluice-lineage",
        &[
            "sluice-core",
            "sluice-datahub",
            "sluice-engine",
            "sluice-op",
            "sluice-store",
        ],
    ),
    (
        "sluice-server",
        &[
            "sluice-core",
            "sluice-data",
            "sluice-dbt",
            "sluice-docs",
            "sluice-embed",
            "sluice-engine",
            "sluice-lineage",
            "sluice-ml",
            "sluice-op",
            "sluice-store",
            "sluice-vector",
        ],
    ),
    (
        "sluice",
        &[
            "sluice-core",
            "sluice-data",
            "sluice-datahub",
            "sluice-dbt",
            "sluice-embed",
            "sluice-engine",
            "sluice-lineage",
            "sluice-link",
            "sluice-ml",
            "sluice-objects",
            "sluice-op",
            "sluice-ops",
            "sluice-server",
            "sluice-store",
            "sluice-vector",
        ],
    ),
];

/// Packages the engine must not pull in, even through another crate: the built-in ops and what
/// only they need (the object stores, the tokenizer, DataFusion, the HTTP client, PostgreSQL).
const NOT_UNDER_ENGINE: &[&str] = &[
    "sluice-ops",
    "sluice-link",
    "sluice-docs",
    "image",
    "sluice-data",
    "sluice-embed",
    "sluice-kernels",
    "sluice-ml",
    "sluice-vector",
    "object_store",
    "tokenizers",
    "datafusion",
    "reqwest",
    "tokio-postgres",
];

/// The sluice crates named in the `[dependencies]` table of a manifest.
fn sluice_deps(manifest: &str) -> BTreeSet<String> {
    let mut in_deps = false;
    let mut deps = BTreeSet::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps
            && let Some(name) = line
                .split(['.', ' ', '='])
                .next()
                .filter(|n| n.starts_with("sluice"))
        {
            deps.insert(name.to_string());
        }
    }
    deps
}

#[test]
fn crates_depend_only_downwards() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crates dir");
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(crates).expect("read crates") {
        let dir = entry.expect("entry").path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let allowed = ALLOWED
            .iter()
            .find(|(c, _)| *c == name)
            .unwrap_or_else(|| {
                panic!("crate `{name}` is not in the layering table of tests/layers.rs")
            })
            .1;
        for dep in sluice_deps(&manifest) {
            assert!(
                allowed.contains(&dep.as_str()),
                "`{name}` must not depend on `{dep}` (see ARCHITECTURE.md)"
            );
        }
        seen.insert(name);
    }
    assert_eq!(seen.len(), ALLOWED.len(), "crates found: {seen:?}");
}

#[test]
fn manifest_parsing_finds_dependencies() {
    let m = "[package]\nname = \"x\"\n[dependencies]\nsluice-core.workspace = true\nserde = \"1\"\nsluice-ops = { path = \"../o\" }\n[dev-dependencies]\nsluice-store.workspace = true\n";
    assert_eq!(
        sluice_deps(m),
        BTreeSet::from(["sluice-core".to_string(), "sluice-ops".to_string()])
    );
}

/// `cargo tree -p PACKAGE` (every edge kind, dev-dependencies included): one package name per
/// line.
fn tree(package: &str) -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("workspace root");
    let out = std::process::Command::new(env!("CARGO"))
        .args(["tree", "--offline", "--prefix", "none", "-p", package])
        .current_dir(root)
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect()
}

#[test]
fn the_engine_pulls_in_no_built_in_op_object_store_or_tokenizer() {
    let packages = tree("sluice-engine");
    assert!(packages.contains("sluice-op"), "{packages:?}");
    let found: Vec<&&str> = NOT_UNDER_ENGINE
        .iter()
        .filter(|p| packages.contains(**p))
        .collect();
    assert!(
        found.is_empty(),
        "`cargo tree -p sluice-engine` contains {found:?} (see ARCHITECTURE.md)"
    );
}
