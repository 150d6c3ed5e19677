//! Tesseract through its C API, loaded when first needed (`libtesseract.so.5` and Leptonica,
//! from Debian's `libtesseract5` / `tesseract-ocr`): sluice builds and runs without them, and
//! the `ocr` op says what to install when they are missing.
//!
//! Images reach Tesseract as the `tesseract` command gives them: the file's bytes decoded by
//! Leptonica (`pixReadMem`, `pixReadMemTiff` for a page of a TIFF), so that the text is the
//! command's for the same settings. One [`Engine`] per thread: Tesseract's handles are not
//! shared between threads.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::OnceLock;

use libloading::{Library, Symbol};

/// What went wrong, said for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TessError(pub String);

impl std::fmt::Display for TessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The two libraries, opened once per process.
struct Libs {
    tess: Library,
    lept: Library,
}

const TESS_NAMES: &[&str] = &["libtesseract.so.5", "libtesseract.so", "libtesseract.dylib"];
const LEPT_NAMES: &[&str] = &[
    "libleptonica.so.6",
    "liblept.so.5",
    "libleptonica.so",
    "liblept.so",
    "libleptonica.dylib",
];

const INSTALL: &str = "install Tesseract: apt-get install libtesseract5 tesseract-ocr-eng (and tesseract-ocr-fra for French); scripts/tesseract.sh does it";

fn open_any(names: &[&str]) -> Result<Library, String> {
    let mut last = String::new();
    for name in names {
        // SAFETY: loading a shared library runs its initialisers; these are the system's
        // Tesseract and Leptonica, whose initialisers have no preconditions.
        match unsafe { Library::new(name) } {
            Ok(lib) => return Ok(lib),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

fn libs() -> Result<&'static Libs, TessError> {
    static LIBS: OnceLock<Result<Libs, TessError>> = OnceLock::new();
    LIBS.get_or_init(|| {
        let lept = open_any(LEPT_NAMES)
            .map_err(|e| TessError(format!("Leptonica is not installed ({e}): {INSTALL}")))?;
        let tess = open_any(TESS_NAMES)
            .map_err(|e| TessError(format!("Tesseract is not installed ({e}): {INSTALL}")))?;
        // Leptonica writes its complaints about unreadable images to stderr; the op reports
        // them itself, per file.
        // SAFETY: `setMsgSeverity(l_int32) -> l_int32` has this signature in every Leptonica.
        unsafe {
            if let Ok(f) = lept.get::<unsafe extern "C" fn(c_int) -> c_int>(b"setMsgSeverity\0") {
                f(6); // L_SEVERITY_NONE
            }
        }
        Ok(Libs { tess, lept })
    })
    .as_ref()
    .map_err(Clone::clone)
}

fn sym<'a, T>(lib: &'a Library, name: &[u8]) -> Result<Symbol<'a, T>, TessError> {
    // SAFETY: every name looked up here is paired with the signature of Tesseract's
    // `capi.h` or Leptonica's `allheaders.h` at the call site.
    unsafe { lib.get(name) }.map_err(|e| {
        TessError(format!(
            "this Tesseract lacks {}: {e}",
            String::from_utf8_lossy(&name[..name.len().saturating_sub(1)])
        ))
    })
}

/// Tesseract's version (`5.3.0`), or why it cannot be loaded.
pub fn version() -> Result<String, TessError> {
    let l = libs()?;
    let f: Symbol<unsafe extern "C" fn() -> *const c_char> = sym(&l.tess, b"TessVersion\0")?;
    // SAFETY: TessVersion returns a static NUL-terminated string.
    Ok(unsafe { CStr::from_ptr(f()) }
        .to_string_lossy()
        .into_owned())
}

/// How to read a page: what the `tesseract` command's `-l`, `--psm`, `--dpi` and
/// `--tessdata-dir` set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Settings {
    /// Languages, `+`-joined (`eng+fra`).
    pub lang: String,
    /// Page segmentation mode, 0–13 (3: automatic, Tesseract's default).
    pub psm: u8,
    /// The resolution to assume, when the image does not say (`user_defined_dpi`).
    pub dpi: Option<u32>,
    /// The folder of `*.traineddata` (Tesseract's own default when absent).
    pub tessdata: Option<String>,
}

/// The text Tesseract read on one page.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The text, as `tesseract IMAGE stdout` prints it without the page's form feed.
    pub text: String,
    /// Mean word confidence, 0–100 (None when no word was found).
    pub confidence: Option<f64>,
    /// Words found.
    pub words: u32,
}

type Handle = *mut c_void;

/// One Tesseract handle, initialised with [`Settings`]; reads pages one at a time.
pub struct Engine {
    handle: Handle,
    libs: &'static Libs,
}

// SAFETY: a TessBaseAPI may move between threads as long as one thread uses it at a time,
// which `&mut self` on every call ensures.
unsafe impl Send for Engine {}

impl Engine {
    /// A handle for `settings`: the languages' data loaded.
    pub fn new(settings: &Settings) -> Result<Engine, TessError> {
        let libs = libs()?;
        let create: Symbol<unsafe extern "C" fn() -> Handle> =
            sym(&libs.tess, b"TessBaseAPICreate\0")?;
        // SAFETY: TessBaseAPICreate takes nothing and returns a new handle.
        let handle = unsafe { create() };
        if handle.is_null() {
            return Err(TessError("Tesseract could not start".into()));
        }
        let engine = Engine { handle, libs };
        engine.init(settings)?;
        Ok(engine)
    }

    fn init(&self, s: &Settings) -> Result<(), TessError> {
        let init: Symbol<unsafe extern "C" fn(Handle, *const c_char, *const c_char) -> c_int> =
            sym(&self.libs.tess, b"TessBaseAPIInit3\0")?;
        let lang = CString::new(s.lang.as_str())
            .map_err(|_| TessError("the language holds a NUL byte".into()))?;
        let data = s
            .tessdata
            .as_deref()
            .map(CString::new)
            .transpose()
            .map_err(|_| TessError("the tessdata folder holds a NUL byte".into()))?;
        let data_ptr = data.as_ref().map_or(std::ptr::null(), |d| d.as_ptr());
        // SAFETY: the handle is live; both strings outlive the call.
        if unsafe { init(self.handle, data_ptr, lang.as_ptr()) } != 0 {
            let where_ = s
                .tessdata
                .clone()
                .unwrap_or_else(|| "Tesseract's tessdata folder".into());
            return Err(TessError(format!(
                "Tesseract could not load language `{}` from {where_}: install its data (apt-get install tesseract-ocr-{}) or fix `lang`",
                s.lang,
                s.lang.split('+').next().unwrap_or("eng")
            )));
        }
        let psm: Symbol<unsafe extern "C" fn(Handle, c_int)> =
            sym(&self.libs.tess, b"TessBaseAPISetPageSegMode\0")?;
        // SAFETY: the handle is live.
        unsafe { psm(self.handle, c_int::from(s.psm)) };
        if let Some(dpi) = s.dpi {
            self.set("user_defined_dpi", &dpi.to_string())?;
        }
        Ok(())
    }

    fn set(&self, name: &str, value: &str) -> Result<(), TessError> {
        let f: Symbol<unsafe extern "C" fn(Handle, *const c_char, *const c_char) -> c_int> =
            sym(&self.libs.tess, b"TessBaseAPISetVariable\0")?;
        let (n, v) = (
            CString::new(name).map_err(|_| TessError("NUL in a variable".into()))?,
            CString::new(value).map_err(|_| TessError("NUL in a value".into()))?,
        );
        // SAFETY: the handle is live; both strings outlive the call.
        if unsafe { f(self.handle, n.as_ptr(), v.as_ptr()) } == 0 {
            return Err(TessError(format!("Tesseract refused {name}={value}")));
        }
        Ok(())
    }

    /// Reads page `page` (from 0; TIFF files have several) of the image file's `bytes`.
    pub fn read(&mut self, bytes: &[u8], page: u32, tiff: bool) -> Result<Reading, TessError> {
        let pix = Pix::decode(self.libs, bytes, page, tiff)?;
        let t = &self.libs.tess;
        let set_image: Symbol<unsafe extern "C" fn(Handle, *mut c_void)> =
            sym(t, b"TessBaseAPISetImage2\0")?;
        let recognize: Symbol<unsafe extern "C" fn(Handle, *mut c_void) -> c_int> =
            sym(t, b"TessBaseAPIRecognize\0")?;
        let get_text: Symbol<unsafe extern "C" fn(Handle) -> *mut c_char> =
            sym(t, b"TessBaseAPIGetUTF8Text\0")?;
        let delete_text: Symbol<unsafe extern "C" fn(*mut c_char)> = sym(t, b"TessDeleteText\0")?;
        let confidences: Symbol<unsafe extern "C" fn(Handle) -> *mut c_int> =
            sym(t, b"TessBaseAPIAllWordConfidences\0")?;
        let delete_ints: Symbol<unsafe extern "C" fn(*mut c_int)> =
            sym(t, b"TessDeleteIntArray\0")?;
        let clear: Symbol<unsafe extern "C" fn(Handle)> = sym(t, b"TessBaseAPIClear\0")?;
        // SAFETY: the handle is live and `pix` outlives its use by Tesseract (cleared below
        // before `pix` drops); the text and the confidences are freed with Tesseract's own
        // functions; the confidence array ends with -1.
        unsafe {
            set_image(self.handle, pix.0);
            if recognize(self.handle, std::ptr::null_mut()) != 0 {
                clear(self.handle);
                return Err(TessError("Tesseract could not read this image".into()));
            }
            let raw = get_text(self.handle);
            let text = if raw.is_null() {
                String::new()
            } else {
                let s = CStr::from_ptr(raw).to_string_lossy().into_owned();
                delete_text(raw);
                s
            };
            let confs = confidences(self.handle);
            let (mut sum, mut words) = (0i64, 0u32);
            if !confs.is_null() {
                let mut p = confs;
                while *p >= 0 {
                    sum += i64::from(*p);
                    words += 1;
                    p = p.add(1);
                }
                delete_ints(confs);
            }
            clear(self.handle);
            Ok(Reading {
                text,
                confidence: (words > 0).then(|| sum as f64 / f64::from(words)),
                words,
            })
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Ok(end) =
            sym::<unsafe extern "C" fn(Handle)>(&self.libs.tess, b"TessBaseAPIDelete\0")
        {
            // SAFETY: the handle is live and never used again.
            unsafe { end(self.handle) };
        }
    }
}

/// A Leptonica image.
struct Pix(*mut c_void, &'static Libs);

impl Pix {
    fn decode(libs: &'static Libs, bytes: &[u8], page: u32, tiff: bool) -> Result<Pix, TessError> {
        let pix = if tiff {
            let f: Symbol<unsafe extern "C" fn(*const u8, usize, c_int) -> *mut c_void> =
                sym(&libs.lept, b"pixReadMemTiff\0")?;
            let page = c_int::try_from(page).map_err(|_| TessError("no such page".into()))?;
            // SAFETY: the bytes outlive the call; Leptonica copies what it keeps.
            unsafe { f(bytes.as_ptr(), bytes.len(), page) }
        } else {
            let f: Symbol<unsafe extern "C" fn(*const u8, usize) -> *mut c_void> =
                sym(&libs.lept, b"pixReadMem\0")?;
            // SAFETY: as above.
            unsafe { f(bytes.as_ptr(), bytes.len()) }
        };
        if pix.is_null() {
            return Err(TessError(format!(
                "Leptonica could not decode this image{}",
                if tiff {
                    format!(" (page {})", page + 1)
                } else {
                    String::new()
                }
            )));
        }
        Ok(Pix(pix, libs))
    }
}

impl Drop for Pix {
    fn drop(&mut self) {
        if let Ok(destroy) =
            sym::<unsafe extern "C" fn(*mut *mut c_void)>(&self.1.lept, b"pixDestroy\0")
        {
            // SAFETY: the image is live and owned here; pixDestroy nulls the pointer.
            unsafe { destroy(&mut self.0) };
        }
    }
}
