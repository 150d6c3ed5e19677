//! Documents through the real binary: the document-classification example on pages drawn by
//! its generator (examples/document_classification/generate.py), with Debian's Tesseract.
//! The text `ocr` reads is the `tesseract` command's for the same image and settings; bad
//! files become rejected rows with their reasons and the run succeeds; a classifier on the
//! text vectors reaches 0.9 held-out accuracy; a second run with 10 new documents reads, OCRs
//! and embeds exactly those 10.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Project, metrics, model_dir, pg_query, test_python};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python that runs the generator, when Tesseract is installed too (scripts/tesseract.sh);
/// in CI the absence of either fails the test.
fn python_and_tesseract(what: &str) -> Option<String> {
    let python = test_python(what)?;
    let ok = Command::new("tesseract")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "tesseract is missing in CI: scripts/test.sh runs scripts/tesseract.sh"
        );
        eprintln!("SKIPPED: Tesseract is missing; run scripts/tesseract.sh");
    }
    ok.then_some(python)
}

/// Runs the generator with `args`.
fn generate(python: &str, args: &[&str]) {
    let script = repo().join("examples/document_classification/generate.py");
    let out = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "generate.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sql(p: &Project, query: &str) -> Vec<Value> {
    let out = p.run_ok(&["sql", query, "--format", "json"]);
    serde_json::from_slice(&out.stdout).expect("json rows")
}

fn count(m: &Value, key: &str) -> i64 {
    m[key].as_i64().unwrap_or(-1)
}

const OCR_ONLY: &str = r#"
name: ocr
tasks:
  ingest:
    op: read.files
    path: docs
  texts:
    op: ocr
    input: ingest
    lang: eng
    psm: 3
    dpi: 100
"#;

#[test]
fn ocr_reads_what_the_tesseract_command_reads() {
    let Some(python) = python_and_tesseract("ocr against the tesseract command") else {
        return;
    };
    let p = Project::new(OCR_ONLY);
    let docs = p.path("docs");
    let docs_s = docs.display().to_string();
    // One page per class, in PNG, JPEG, TIFF and BMP in turn.
    generate(
        &python,
        &[&docs_s, "--per-class", "1", "--formats", "png,jpg,tif,bmp"],
    );
    // And a 20000×20000 PNG, which Tesseract must never be given.
    let bad = p.path("bad").display().to_string();
    generate(&python, &["--bad", &bad]);
    std::fs::create_dir_all(docs.join("huge")).expect("folder");
    std::fs::copy(p.path("bad/huge/page.png"), docs.join("huge/page.png")).expect("copy");
    p.run_ok(&["run", "pipeline.yaml"]);
    let rejected = sql(&p, "select source, page, reason from ocr.texts_rejected");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(
        rejected[0]["reason"].as_str(),
        Some(
            "20000×20000 pixels (400.0 million), more than max_pixels (64.0 million): not decoded"
        ),
        "{rejected:?}"
    );
    let rows = sql(
        &p,
        "select source, text, confidence, words, processor from ocr.texts order by source",
    );
    assert_eq!(rows.len(), 16, "{rows:?}");
    for r in &rows {
        let source = r["source"].as_str().expect("source");
        let cli = Command::new("tesseract")
            .arg(p.path(source))
            .args(["stdout", "-l", "eng", "--psm", "3", "--dpi", "100"])
            .env("OMP_THREAD_LIMIT", "1")
            .output()
            .expect("tesseract");
        assert!(cli.status.success(), "tesseract {source}");
        let expected = String::from_utf8_lossy(&cli.stdout);
        // The command ends each page with a form feed.
        let expected = expected.strip_suffix('\u{c}').unwrap_or(&expected);
        assert_eq!(r["text"].as_str(), Some(expected), "{source}");
        assert!(r["words"].as_i64().unwrap_or(0) > 5, "{source}: {r}");
        let conf = r["confidence"].as_f64().expect("confidence");
        assert!((50.0..=100.0).contains(&conf), "{source}: {conf}");
        assert!(
            r["processor"].as_str().is_some_and(
                |s| s.starts_with("tesseract 5.") && s.ends_with("(eng, psm 3, 100 dpi)")
            ),
            "{r}"
        );
    }
    // Again: nothing read twice.
    p.run_ok(&["run", "pipeline.yaml", "--force"]);
    let m = metrics(&p, &p.last_run_id(), "texts");
    assert_eq!((count(&m, "read"), count(&m, "cached")), (0, 16), "{m}");
}

/// The `*.json` files under `dir`, recursively.
fn json_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() {
                        json_files(&path)
                    } else {
                        usize::from(path.extension().is_some_and(|x| x == "json"))
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// `kill -9` in the middle of an OCR: the pages read before it are in the cache, whole; the
/// next run reads only the others.
#[test]
fn a_killed_ocr_keeps_the_pages_it_read() {
    let Some(python) = python_and_tesseract("ocr after kill -9") else {
        return;
    };
    let p = Project::new(OCR_ONLY);
    let docs = p.path("docs").display().to_string();
    generate(&python, &[&docs, "--per-class", "1"]);
    let cache = p.path(".sluice/warehouse/.cache/ocr");
    let mut child = p.spawn(&["run", "pipeline.yaml"]);
    let started = std::time::Instant::now();
    while json_files(&cache) < 2 {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the run ended before it could be killed"
        );
        assert!(started.elapsed().as_secs() < 120, "no page was read");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().expect("kill -9");
    let _ = child.wait();
    let kept = json_files(&cache);
    assert!((2..16).contains(&kept), "{kept} pages in the cache");
    p.run_ok(&["run", "pipeline.yaml"]);
    let m = metrics(&p, &p.last_run_id(), "texts");
    assert_eq!(
        (count(&m, "read"), count(&m, "cached")),
        (16 - kept as i64, kept as i64),
        "{m}"
    );
    let texts = sql(&p, "select count(*) as n from ocr.texts where words > 5");
    assert_eq!(texts[0]["n"], 16, "{texts:?}");
}

/// The example pipeline with the test's folders.
fn example(model: &Path) -> String {
    let text =
        std::fs::read_to_string(repo().join("examples/document_classification/pipeline.yaml"))
            .expect("example");
    text.replace(
        "  model: ../../.models/all-MiniLM-L6-v2",
        &format!("  model: {}", model.display()),
    )
}

#[test]
fn the_example_classifies_documents_rejects_bad_files_and_reads_only_new_ones() {
    let Some(python) = python_and_tesseract("the document-classification example") else {
        return;
    };
    let Some(model) = model_dir() else { return };
    let p = Project::new(&example(&model));
    let docs = p.path("data/to_ingest").display().to_string();
    generate(&python, &[&docs, "--per-class", "10", "--bad", &docs]);
    // The tables go to a database of their own when the tests have a PostgreSQL.
    let pg = common::pg_database("the example's PostgreSQL tables", "documents");
    let pg_param = format!("pg_url={}", pg.as_deref().unwrap_or_default());
    p.run_ok(&["run", "pipeline.yaml", "-p", &pg_param]);
    let run = p.last_run_id();

    // The bad files: four refused at ingestion, two when decoded; the run succeeded.
    let rejected = sql(
        &p,
        "select source, reason from document_classification.ingest_rejected \
         union all select source, reason from document_classification.pages_rejected \
         order by source",
    );
    let reasons: Vec<(String, String)> = rejected
        .iter()
        .map(|r| {
            let s = r["source"].as_str().unwrap_or_default();
            // ingest names files from the pipeline's folder, pages its stored copies.
            let folder = Path::new(s)
                .parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (folder, r["reason"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    let find = |folder: &str| {
        reasons
            .iter()
            .find(|(f, _)| f == folder)
            .map(|(_, r)| r.as_str())
            .unwrap_or_else(|| panic!("no rejection of {folder}: {reasons:?}"))
    };
    assert_eq!(find("badlabel"), "label.txt holds 17, outside 0–15");
    assert_eq!(find("empty"), "empty file (0 bytes)");
    assert_eq!(
        find("nolabel"),
        "label.txt is missing beside it (add it, or make the sidecar `required: false`)"
    );
    assert!(
        find("pdf").starts_with("its bytes are application/pdf, which is not accepted")
            && find("pdf").ends_with(
                "PDF documents are not supported yet: convert them to images (pdftoppm -png)"
            ),
        "{}",
        find("pdf")
    );
    assert_eq!(rejected.len(), 6, "{reasons:?}");
    let corrupt = rejected.iter().find(|r| {
        r["reason"]
            .as_str()
            .is_some_and(|s| s.starts_with("corrupt or truncated image/png"))
    });
    assert!(corrupt.is_some(), "{reasons:?}");
    assert!(
        reasons.iter().any(|(_, r)| r
            == "20000×20000 pixels (400.0 million), more than max_pixels (64.0 million): not decoded"),
        "{reasons:?}"
    );

    let ingest = metrics(&p, &run, "ingest");
    assert_eq!(
        (count(&ingest, "new"), count(&ingest, "rejected")),
        (162, 4),
        "{ingest}"
    );
    let texts = metrics(&p, &run, "texts");
    assert_eq!(
        (count(&texts, "read"), count(&texts, "cached")),
        (160, 0),
        "{texts}"
    );

    // The classes are learnt: held-out accuracy on the text alone, and with the layout.
    let accuracy = |task: &str| {
        let best = metrics(&p, &run, task)["best_trial"]
            .as_i64()
            .expect("best trial");
        let rows = sql(
            &p,
            &format!(
                "select value from document_classification.{task} \
                 where step is null and metric = 'test.accuracy' and trial = {best}"
            ),
        );
        rows.first()
            .and_then(|r| r["value"].as_f64())
            .unwrap_or_else(|| panic!("{task}: {rows:?}"))
    };
    let text_only = accuracy("text_only");
    let both = accuracy("classifier");
    println!("held-out accuracy: text only {text_only:.3}, text + layout {both:.3}");
    assert!(text_only >= 0.9, "text only: {text_only}");
    assert!(both >= 0.9, "text + layout: {both}");

    // Ten new documents: only they are read, OCR'd and embedded.
    let more = p.path("more");
    generate(
        &python,
        &[
            &more.display().to_string(),
            "--per-class",
            "1",
            "--start",
            "10",
        ],
    );
    let mut new: Vec<PathBuf> = std::fs::read_dir(&more)
        .expect("more")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    new.sort();
    for d in new.iter().take(10) {
        let to = p.path("data/to_ingest").join(d.file_name().expect("name"));
        std::fs::rename(d, to).expect("move");
    }
    p.run_ok(&["run", "pipeline.yaml", "-p", &pg_param]);
    let run = p.last_run_id();
    let ingest = metrics(&p, &run, "ingest");
    assert_eq!(
        (
            count(&ingest, "new"),
            count(&ingest, "already_ingested"),
            count(&ingest, "documents")
        ),
        (10, 162, 172),
        "{ingest}"
    );
    let texts = metrics(&p, &run, "texts");
    assert_eq!(
        (count(&texts, "read"), count(&texts, "cached")),
        (10, 160),
        "{texts}"
    );
    let vectors = metrics(&p, &run, "vectors");
    assert_eq!(count(&vectors, "embedded"), 10, "{vectors}");
    if let Some(url) = &pg {
        six_tables_are_loaded(url);
    }

    // Documents uploaded to the served model, by the API and in the web UI.
    uploads_are_classified(&p, &more);
}

/// The six tables after both runs: every document, label, page image, raw and clean text
/// and vector; each foreign key with its index; a processor and a time on every derived row.
fn six_tables_are_loaded(url: &str) {
    let counts = pg_query(
        url,
        &[
            "select (select count(*) from original_documents), (select count(*) from labels), \
           (select count(*) from processed_images), (select count(*) from raw_texts), \
           (select count(*) from processed_texts), (select count(*) from embeddings)",
        ],
    );
    let counts: Vec<&str> = counts[0]
        .iter()
        .map(|c| c.as_deref().unwrap_or(""))
        .collect();
    // 172 documents ingested (2 of them corrupt or too large to decode): 170 pages.
    assert_eq!(counts, ["172", "172", "170", "170", "170", "170"]);
    let keys = pg_query(
        url,
        &[
            "select c.conrelid::regclass::text || '.' || a.attname::text || ' -> ' \
           || c.confrelid::regclass::text || ' ' || c.confdeltype::text || ' ' \
           || (select count(*) from pg_index i \
             where i.indrelid = c.conrelid and i.indkey[0] = a.attnum)::text \
           from pg_constraint c join pg_attribute a \
             on a.attrelid = c.conrelid and a.attnum = c.conkey[1] \
           where c.contype = 'f' order by 1",
        ],
    );
    let keys: Vec<&str> = keys.iter().filter_map(|r| r[0].as_deref()).collect();
    assert_eq!(
        keys,
        [
            "embeddings.processed_image_id -> processed_images c 1",
            "embeddings.processed_text_id -> processed_texts c 1",
            "labels.document_id -> original_documents c 1",
            "processed_images.document_id -> original_documents c 1",
            "processed_texts.raw_text_id -> raw_texts c 1",
            "raw_texts.document_id -> original_documents c 1",
        ]
    );
    let unstamped = pg_query(
        url,
        &[
            "select (select count(*) from labels where processor is null or processing_datetime is null) \
           + (select count(*) from processed_images where processor is null or processing_datetime is null) \
           + (select count(*) from raw_texts where processor not like 'tesseract %' or processing_datetime is null) \
           + (select count(*) from processed_texts where processor is null or processing_datetime is null) \
           + (select count(*) from embeddings where processor is null or processing_datetime is null \
              or vector_dims(text_vector) <> 384 or vector_dims(layout) <> 320)",
        ],
    );
    assert_eq!(unstamped[0][0].as_deref(), Some("0"));
}

/// The classes of the example, by label.
const CLASSES: [&str; 16] = [
    "letter",
    "form",
    "email",
    "handwritten",
    "advertisement",
    "scientific report",
    "scientific publication",
    "specification",
    "file folder",
    "news article",
    "budget",
    "invoice",
    "presentation",
    "questionnaire",
    "resume",
    "memo",
];

/// `POST /api/models/document_classification/classifier/predict` with a document: its class,
/// the 16 probabilities and the confidence; the limits and refusals; then the same in the web
/// UI's upload page, in chromium. `more` holds generated documents the model never saw.
fn uploads_are_classified(p: &Project, more: &Path) {
    use common::{Server, call, client, json_of, user_with_token};
    use reqwest::Method;
    use reqwest::blocking::multipart::{Form, Part};

    let token = user_with_token(p, "otto", "operator");
    let viewer = user_with_token(p, "vera", "viewer");
    let server = Server::start(p);
    let c = client();
    let path = "/api/models/document_classification/classifier/predict";
    let send = |bytes: Vec<u8>, name: &str, token: Option<&str>| {
        let form = Form::new().part("image", Part::bytes(bytes).file_name(name.to_string()));
        call(&c, &server, Method::POST, path, token)
            .multipart(form)
            .send()
            .expect("predict")
    };
    let page = |folder: &str| {
        let dir = more.join(folder);
        let file = std::fs::read_dir(&dir)
            .expect("document folder")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|f| f.file_name().is_some_and(|n| n != "label.txt"))
            .expect("page");
        let label: usize = std::fs::read_to_string(dir.join("label.txt"))
            .expect("label")
            .trim()
            .parse()
            .expect("label");
        (file, CLASSES[label])
    };

    // A new invoice: its class, 16 probabilities summing to 1, the confidence 1 − H / ln 16,
    // and what the pipeline read of it.
    let (invoice, class) = page("doc-11-0010");
    let r = send(
        std::fs::read(&invoice).expect("page"),
        "scan.png",
        Some(&token),
    );
    assert_eq!(r.status(), 200);
    let a = json_of(r);
    let pred = &a["predictions"][0];
    assert_eq!(pred["label"], class, "{a}");
    let probas: Vec<f64> = pred["probas"]
        .as_array()
        .expect("probas")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    assert_eq!(probas.len(), 16);
    assert!(
        (probas.iter().sum::<f64>() - 1.0).abs() < 1e-4,
        "{probas:?}"
    );
    let entropy: f64 = probas
        .iter()
        .filter(|&&x| x > 0.0)
        .map(|x| -x * x.ln())
        .sum();
    let confidence = pred["confidence"].as_f64().expect("confidence");
    assert!(
        (confidence - (1.0 - entropy / 16f64.ln())).abs() < 1e-4,
        "{a}"
    );
    let classes: Vec<&str> = a["classes"]
        .as_array()
        .expect("classes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut sorted = CLASSES.to_vec();
    sorted.sort_unstable();
    assert_eq!(classes, sorted);
    let doc = &a["document"];
    assert_eq!(
        doc["media_type"],
        format!("image/{}", media_of(&invoice)),
        "{doc}"
    );
    assert!(
        doc["text"]
            .as_str()
            .is_some_and(|t| t.to_lowercase().contains("invoice")),
        "{doc}"
    );
    assert!(doc["label"].is_null(), "{doc}");
    assert!(doc.get("path").is_none(), "{doc}");
    // The same document again: its text comes from the OCR cache, same answer.
    let again = json_of(send(
        std::fs::read(&invoice).expect("page"),
        "again.png",
        Some(&token),
    ));
    assert_eq!(again["predictions"], a["predictions"]);

    // Refused before any work: no token, a viewer, a PDF, too many bytes, too many pixels;
    // a corrupt image is read and refused with the task's reason.
    let docs = p.path("data/to_ingest");
    let read = |f: &str| std::fs::read(docs.join(f)).expect("bad file");
    let error = |r: reqwest::blocking::Response, status: u16| -> String {
        assert_eq!(r.status().as_u16(), status);
        json_of(r)["error"].as_str().unwrap_or_default().to_string()
    };
    error(send(read("pdf/page.pdf"), "x.png", None), 401);
    error(send(read("pdf/page.pdf"), "x.png", Some(&viewer)), 403);
    assert_eq!(
        error(send(read("pdf/page.pdf"), "page.pdf", Some(&token)), 415),
        "page.pdf: its bytes are application/pdf, which is not accepted (accepted: image/png, image/jpeg, image/tiff, image/bmp); PDF documents are not supported yet: convert them to images (pdftoppm -png)"
    );
    assert_eq!(
        error(send(vec![0x89; 33 << 20], "big.png", Some(&token)), 413),
        "the document is larger than 32 MiB, the most a prediction takes"
    );
    assert_eq!(
        error(send(read("huge/page.png"), "huge.png", Some(&token)), 413),
        "huge.png: 20000×20000 pixels (400.0 million), more than max_pixels (64.0 million): not decoded"
    );
    let corrupt = error(
        send(read("corrupt/page.png"), "half.png", Some(&token)),
        422,
    );
    assert!(
        corrupt.starts_with(
            "half.png: task `pages` kept nothing of it: corrupt or truncated image/png"
        ),
        "{corrupt}"
    );
    // The text-only model reads the same pipeline's documents.
    let r = call(
        &c,
        &server,
        Method::POST,
        "/api/models/document_classification/text_only/predict",
        Some(&token),
    )
    .multipart(Form::new().part("image", Part::bytes(std::fs::read(&invoice).expect("page"))))
    .send()
    .expect("predict");
    assert_eq!(json_of(r)["predictions"][0]["label"], class);
    let empty = call(&c, &server, Method::POST, path, Some(&token))
        .multipart(Form::new().text("note", "no file"))
        .send()
        .expect("predict");
    assert_eq!(
        error(empty, 400),
        "no document in the form: send it as the multipart field `image`"
    );
    // The scratch folders are gone.
    let scratch = p.path(".sluice/warehouse/.scratch");
    let left = std::fs::read_dir(&scratch).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "{}", scratch.display());

    // The web UI's upload page, in chromium.
    let (resume, class) = page("doc-14-0010");
    let pdf = docs.join("pdf/page.pdf");
    common::browser_flow(
        "upload.js",
        &server,
        &[
            "otto".as_ref(),
            "otto-password".as_ref(),
            resume.as_os_str(),
            class.as_ref(),
            pdf.as_os_str(),
        ],
        4,
    );
}

/// The media subtype of a generated page, by its extension.
fn media_of(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()) {
        Some("png") => "png",
        Some("jpg") => "jpeg",
        Some("tif") => "tiff",
        _ => "bmp",
    }
}

#[test]
fn embed_reads_an_image_column_with_clip() {
    let clip = repo().join("crates/sluice-embed/tests/fixtures/tiny-clip");
    let p = Project::new(&format!(
        r#"
name: clip
tasks:
  ingest:
    op: read.files
    path: images
  pages:
    op: image
    input: ingest
  image_vectors:
    op: embed
    input: pages
    image: image
    column: image_vector
    model: {clip}
  both:
    op: embed
    input: image_vectors
    text: name
    column: text_vector
    model: {clip}
"#,
        clip = clip.display()
    ));
    std::fs::create_dir_all(p.path("images")).expect("folder");
    for i in 0..6 {
        std::fs::copy(
            clip.join(format!("images/{i}.png")),
            p.path(&format!("images/{i}.png")),
        )
        .expect("copy");
    }
    p.run_ok(&["run", "pipeline.yaml"]);
    let rows = sql(
        &p,
        "select name, image_vector, text_vector from clip.both order by name",
    );
    assert_eq!(rows.len(), 6);
    let mut seen = Vec::new();
    for r in &rows {
        for col in ["image_vector", "text_vector"] {
            let v: Vec<f64> = r[col]
                .as_array()
                .expect("vector")
                .iter()
                .filter_map(Value::as_f64)
                .collect();
            assert_eq!(v.len(), 24, "{col}: {r}");
            let norm: f64 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "{col} norm {norm}");
        }
        seen.push(r["image_vector"].to_string());
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 6, "six different images, six different vectors");
    let m = metrics(&p, &p.last_run_id(), "image_vectors");
    assert_eq!(count(&m, "embedded"), 6, "{m}");
    // Again: every image from the cache.
    p.run_ok(&["run", "pipeline.yaml", "--force"]);
    let m = metrics(&p, &p.last_run_id(), "image_vectors");
    assert_eq!(
        (count(&m, "embedded"), count(&m, "from_cache")),
        (0, 6),
        "{m}"
    );
}

/// The example's CLIP block, uncommented with the tiny CLIP as its model, runs as written:
/// each page's 224×224 image through CLIP's vision tower, joined to its text vector.
#[test]
fn the_example_s_clip_block_joins_image_and_text_vectors() {
    let Some(python) = python_and_tesseract("the example's CLIP block") else {
        return;
    };
    let Some(model) = model_dir() else { return };
    let clip = repo().join("crates/sluice-embed/tests/fixtures/tiny-clip");
    let text = example(&model);
    let block = text
        .lines()
        .skip_while(|l| !l.starts_with("  #   image_vectors:"))
        .take_while(|l| l.starts_with("  #  "))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(block.contains("both:"), "{block}");
    let uncommented = block
        .lines()
        .map(|l| format!("  {}", &l[6..]))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(
            "model: path/to/clip-vit-base-patch32",
            &format!("model: {}", clip.display()),
        );
    let p = Project::new(&text.replace(&block, &uncommented));
    let docs = p.path("data/to_ingest").display().to_string();
    generate(&python, &[&docs, "--per-class", "1"]);
    p.run_ok(&["run", "pipeline.yaml", "--task", "both"]);
    let rows = sql(
        &p,
        "select class, array_length(image_vector) as image, array_length(text_vector) as text \
         from document_classification.both order by class",
    );
    assert_eq!(rows.len(), 16, "{rows:?}");
    let classes: Vec<&str> = rows.iter().filter_map(|r| r["class"].as_str()).collect();
    let mut expected = CLASSES.to_vec();
    expected.sort_unstable();
    assert_eq!(classes, expected);
    assert!(
        rows.iter().all(|r| r["image"] == 24 && r["text"] == 384),
        "{rows:?}"
    );
}
