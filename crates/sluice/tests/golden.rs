//! Golden tests: the specification of what a pipeline makes of real inputs, kept as data.
//!
//! Each folder under `tests/golden/` is one case: `case.json` says which pipeline runs (a
//! `pipeline.yaml` beside it, or a file of the repository) with which parameters, which
//! queries to ask of its datasets and which files it writes; `expected/` holds what each
//! query answers (`NAME.json`, rows as pretty JSON) and each file written. The test runs the
//! real binary and compares. A change of output is one reviewed diff: run
//! `SLUICE_BLESS=1 cargo test --test golden` to write the new outputs into `expected/`, then
//! read `git diff`.
//!
//! In `case.json`, `{repo}` is the repository, `{shared}` the folder of sample data beside it
//! (`../shared`), `{work}` the run's temporary folder (where `files` are read) and `{model}` the
//! folder of all-MiniLM-L6-v2 (a case using it is skipped, loudly, outside CI when the model
//! is missing). `chunks_fit` checks what a table of expected rows cannot: every chunk of a
//! dataset fits its token budget under the real tokenizer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

mod common;
use common::{model_dir, text};

/// A case's `case.json`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// What the case shows.
    #[allow(dead_code)]
    about: String,
    /// The pipeline file, when it is not the case's own `pipeline.yaml`.
    pipeline: Option<String>,
    /// `--param` values.
    #[serde(default)]
    params: BTreeMap<String, String>,
    /// Queries by name: SQL, or `{"file": …, "params": {…}}` for a query file.
    #[serde(default)]
    queries: BTreeMap<String, Query>,
    /// Files the run writes, relative to `{work}`, compared with `expected/<file name>`.
    #[serde(default)]
    files: Vec<String>,
    /// Chunk datasets (`pipeline.task`) whose every chunk must fit in this many tokens of the
    /// model's tokenizer, with ids that are unique.
    #[serde(default)]
    chunks_fit: BTreeMap<String, usize>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Query {
    Sql(String),
    File {
        file: String,
        #[serde(default)]
        params: BTreeMap<String, String>,
    },
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository")
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// `text` with `{repo}`, `{shared}`, `{work}` and `{model}` replaced; `None` when it needs the
/// model and the model is missing (outside CI).
fn expand(text: &str, work: &Path, model: &mut Option<Option<PathBuf>>) -> Option<String> {
    let repo = repo();
    let mut out = text
        .replace("{repo}", &repo.display().to_string())
        .replace("{shared}", &repo.join("../shared").display().to_string())
        .replace("{work}", &work.display().to_string());
    if out.contains("{model}") {
        let dir = model.get_or_insert_with(model_dir).clone()?;
        out = out.replace("{model}", &dir.display().to_string());
    }
    Some(out)
}

/// Runs the case in folder `name` and compares (or, with `SLUICE_BLESS=1`, writes) its
/// outputs.
fn check(name: &str) {
    let dir = golden_dir().join(name);
    let case: Case = serde_json::from_str(
        &std::fs::read_to_string(dir.join("case.json")).expect("read case.json"),
    )
    .unwrap_or_else(|e| panic!("{name}/case.json: {e}"));
    let mut model = None;
    let work = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let pipeline = match &case.pipeline {
        Some(p) => match expand(p, work.path(), &mut model) {
            Some(p) => PathBuf::from(p),
            None => return,
        },
        None => {
            let own = std::fs::read_to_string(dir.join("pipeline.yaml")).expect("pipeline.yaml");
            let path = work.path().join("pipeline.yaml");
            std::fs::write(&path, own).expect("write pipeline");
            path
        }
    };
    let home = work.path().join(".sluice");
    let sluice = |args: &[String]| {
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(args)
            .current_dir(work.path())
            .env_remove("SLUICE_HOME")
            .env_remove("SLUICE_STATE")
            .output()
            .expect("run sluice");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {args:?}\n{}",
            text(&out)
        );
        out.stdout
    };
    let mut args = vec![
        "run".to_string(),
        pipeline.display().to_string(),
        "--home".into(),
        home.display().to_string(),
    ];
    for (k, v) in &case.params {
        let Some(v) = expand(v, work.path(), &mut model) else {
            return;
        };
        args.extend(["--param".into(), format!("{k}={v}")]);
    }
    sluice(&args);

    // `sluice sql` on the run's datasets, `query` being the SQL or `--file` and its params.
    let sql = |query: Vec<String>| -> Value {
        let mut args = vec![
            "sql".to_string(),
            "--home".into(),
            home.display().to_string(),
            "--format".into(),
            "json".into(),
        ];
        args.extend(query);
        serde_json::from_slice(&sluice(&args)).expect("json rows")
    };
    let mut outputs: Vec<(String, String)> = Vec::new();
    for (query, q) in &case.queries {
        let args = match q {
            Query::Sql(text) => vec![text.clone()],
            Query::File { file, params } => {
                let Some(file) = expand(file, work.path(), &mut model) else {
                    return;
                };
                let mut args = vec!["--file".to_string(), file];
                for (k, v) in params {
                    args.extend(["--param".into(), format!("{k}={v}")]);
                }
                args
            }
        };
        outputs.push((format!("{query}.json"), pretty(&sql(args))));
    }
    for file in &case.files {
        let path = work.path().join(file);
        let content = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{name}: the run wrote no {file}: {e}"));
        let base = Path::new(file)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(file)
            .to_string();
        // JSON is compared as values, printed the same way, so that only data differs.
        let content = match serde_json::from_str::<Value>(&content) {
            Ok(v) if base.ends_with(".json") => pretty(&v),
            _ => content,
        };
        outputs.push((base, content));
    }
    compare(name, &dir.join("expected"), &outputs);
    if !case.chunks_fit.is_empty() {
        let Some(model) = model.flatten() else {
            panic!("{name}: `chunks_fit` needs the model: use {{model}} in the case");
        };
        let tokenizer = sluice_ops::builtin::load_tokenizer(&model).expect("tokenizer");
        let tokens = |text: &str| {
            let encoding = tokenizer.encode(text, false).expect("encode");
            encoding.get_ids().len()
        };
        for (table, size) in &case.chunks_fit {
            let rows = sql(vec![format!("select chunk_id, chunk_text from {table}")]);
            chunks_fit(name, table, &rows, &tokens, *size);
        }
    }
}

/// Every chunk of `rows` (`chunk_id`, `chunk_text`) has at most `size` tokens (as `tokens`
/// counts them), and no two share an id.
fn chunks_fit(name: &str, table: &str, rows: &Value, tokens: &dyn Fn(&str) -> usize, size: usize) {
    let rows = rows.as_array().expect("rows");
    assert!(!rows.is_empty(), "{name}: {table} has no chunks");
    let mut ids = std::collections::HashSet::new();
    for row in rows {
        let id = row["chunk_id"].as_str().expect("chunk_id");
        let text = row["chunk_text"].as_str().expect("chunk_text");
        let n = tokens(text);
        assert!(
            n <= size,
            "{name}: {table}: chunk {id} has {n} tokens > {size}"
        );
        assert!(ids.insert(id), "{name}: {table}: two chunks are {id}");
    }
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("json");
    s.push('\n');
    s
}

/// Compares each output with its expected file, or writes them all with `SLUICE_BLESS=1`.
fn compare(name: &str, expected: &Path, outputs: &[(String, String)]) {
    if std::env::var("SLUICE_BLESS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(expected).expect("expected folder");
        for (file, content) in outputs {
            std::fs::write(expected.join(file), content).expect("write expected");
        }
        eprintln!(
            "golden {name}: wrote {} expected file(s); review them with git diff",
            outputs.len()
        );
        return;
    }
    let mut problems = Vec::new();
    for (file, actual) in outputs {
        let path = expected.join(file);
        match std::fs::read_to_string(&path) {
            Err(_) => problems.push(format!("{}: missing", path.display())),
            Ok(want) if &want != actual => problems.push(format!(
                "{}: {}",
                path.display(),
                first_difference(&want, actual)
            )),
            Ok(_) => {}
        }
    }
    assert!(
        problems.is_empty(),
        "golden {name}: the output differs from tests/golden/{name}/expected/:\n{}\n\
         If the new output is right, run `SLUICE_BLESS=1 cargo test --test golden {name}` and \
         review the diff.",
        problems.join("\n")
    );
}

/// The first line that differs, both ways.
fn first_difference(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let n = w.iter().zip(&g).take_while(|(a, b)| a == b).count();
    format!(
        "line {}:\n  expected: {}\n  actual:   {}",
        n + 1,
        w.get(n).unwrap_or(&"(end of file)"),
        g.get(n).unwrap_or(&"(end of file)")
    )
}

/// One test per case folder, and a test that no folder lacks one.
macro_rules! golden {
    ($($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                check(stringify!($case));
            }
        )*

        #[test]
        fn every_case_folder_has_a_test() {
            let known = [$(stringify!($case)),*];
            for entry in std::fs::read_dir(golden_dir()).expect("tests/golden") {
                let entry = entry.expect("entry");
                if entry.path().is_dir() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    assert!(known.contains(&name.as_str()), "tests/golden/{name} has no test: add it to golden!(…)");
                }
            }
        }
    };
}

golden!(
    service_public,
    drug_mentions,
    dila_legi_cnil,
    travail_directory
);
