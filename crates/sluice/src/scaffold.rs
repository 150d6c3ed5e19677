//! `sluice new pipeline NAME --template etl|ml|dbt|embeddings`: a runnable folder (pipeline
//! or dbt project, sample input, a test, a README) from the templates built into the binary
//! (`crates/sluice/templates/`), then its test run once.

use std::path::{Path, PathBuf};

use crate::Failure;
use crate::cli::Template;

/// The files of each template: path in the new folder, text (`__NAME__` is the name).
fn files(template: Template) -> &'static [(&'static str, &'static str)] {
    macro_rules! t {
        ($dir:literal, [$($f:literal),* $(,)?]) => {
            &[$(($f, include_str!(concat!("../templates/", $dir, "/", $f)))),*]
        };
    }
    match template {
        Template::Etl => t!(
            "etl",
            [
                "pipeline.yaml",
                "README.md",
                "data/orders.csv",
                "tests/sample.yaml",
                "tests/expected/per_customer.csv",
            ]
        ),
        Template::Ml => t!(
            "ml",
            [
                "pipeline.yaml",
                "README.md",
                "data/items.csv",
                "tests/sample.yaml"
            ]
        ),
        Template::Embeddings => t!(
            "embeddings",
            [
                "pipeline.yaml",
                "README.md",
                "data/texts.csv",
                "tests/sample.yaml",
            ]
        ),
        Template::Dbt => t!(
            "dbt",
            [
                "dbt_project.yml",
                "README.md",
                "seeds/raw_orders.csv",
                "models/staging/stg_orders.sql",
                "models/marts/customers.sql",
                "models/schema.yml",
                "tests/assert_amounts_are_positive.sql",
            ]
        ),
    }
}

/// Creates the folder and runs its test.
pub async fn new_pipeline(
    name: &str,
    template: Template,
    dir: Option<&Path>,
) -> Result<u8, Failure> {
    if !sluice_core::pipeline::valid_name(name) {
        return Err(Failure::invalid(format!(
            "error: invalid pipeline name `{name}`: use lower-case letters, digits and `_`, starting with a letter"
        )));
    }
    let dir: PathBuf = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    let occupied = std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) || dir.is_file();
    if occupied {
        return Err(Failure::invalid(format!(
            "error: {} already exists and is not empty: nothing was written (choose another --dir)",
            dir.display()
        )));
    }
    for (path, text) in files(template) {
        let file = dir.join(path);
        let write = || -> std::io::Result<()> {
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&file, text.replace("__NAME__", name))
        };
        write()
            .map_err(|e| Failure::env(format!("error: cannot write {}: {e}", file.display())))?;
    }
    println!("created {} ({} template):", dir.display(), template.name());
    for (path, _) in files(template) {
        println!("  {}", dir.join(path).display());
    }
    println!("running its test once: sluice test {}", dir.display());
    let code = crate::testing::test(std::slice::from_ref(&dir), None, false, None).await?;
    if code == 0 {
        println!(
            "next: read {}, then `sluice run {}`",
            dir.join("README.md").display(),
            match template {
                Template::Dbt => dir.display().to_string(),
                _ => dir.join("pipeline.yaml").display().to_string(),
            }
        );
    } else {
        println!(
            "the new pipeline's test failed (see above): {}",
            match template {
                Template::Embeddings =>
                    "the embeddings template needs its model: set SLUICE_MODELS to a folder holding all-MiniLM-L6-v2/ (see its README)",
                _ => "please report it: a template's test should pass",
            }
        );
    }
    Ok(code)
}
