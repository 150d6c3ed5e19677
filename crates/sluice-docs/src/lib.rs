//! Documents: scanned pages and other files as data, the ops `read.files`, `image`, `ocr`
//! and `text.clean` ([`specs`] registers them).
//!
//! A document is a file known by the SHA-1 of its bytes (`read.files`, which keeps a copy
//! of each by id in its task's raw folder and never ingests the same bytes twice); its pages
//! are decoded, resized and described (`image`), read by Tesseract (`ocr`, whose results are
//! cached by document and settings), and their text normalised (`text.clean`). What an op
//! cannot take — a file of a type it does not accept, a corrupt image, a missing sidecar —
//! is never dropped silently: it becomes a row of the task's *rejected* dataset
//! ([`rejected`]), with the reason, and the run goes on.

pub mod clean;
pub mod files;
pub mod image;
pub mod ocr;
pub mod rejected;
mod rows;
#[allow(unsafe_code)]
pub mod tess;

/// The ops of this crate, for the registry.
pub fn specs() -> Vec<sluice_op::OpSpec> {
    vec![
        sluice_op::OpSpec {
            name: "read.files",
            summary: "Ingests files (`path`: a folder, file or glob; or `files`: a fetch task) as documents: id = SHA-1 of the bytes, media type sniffed from them, sidecar fields (`label.txt`); a copy kept by id; bytes already ingested are skipped; unaccepted types, unreadable files and bad sidecars go to the rejected rows with the reason.",
            build: files::build,
        },
        sluice_op::OpSpec {
            name: "image",
            summary: "Decodes the images of `input` (PNG, JPEG, TIFF pages, BMP) within a pixel bound: a resized copy (bicubic, 224×224 RGB by default), a thumbnail and a layout vector (a small grayscale page); corrupt images go to the rejected rows.",
            build: image::build,
        },
        sluice_op::OpSpec {
            name: "ocr",
            summary: "Reads the text of each page of `input` with Tesseract (`lang`, `psm`, `dpi`), on every core: text, mean word confidence, words; results cached by document and settings, so a re-run reads only new documents.",
            build: ocr::build,
        },
        sluice_op::OpSpec {
            name: "text.clean",
            summary: "Normalises the `column` text of `input` into `output` with `steps`: remove markers (`pgNbr=12`), unescape HTML entities, lowercase, keep words (`[a-z]{2,}`), drop the stop-words of a language.",
            build: clean::build,
        },
    ]
}
