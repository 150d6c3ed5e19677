//! Images: decoding within a pixel bound, TIFF pages, resizing, thumbnails and a layout
//! vector — the functions the `image` op runs on every row, and the server on an uploaded
//! document (one code path).

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use rayon::prelude::*;
use serde::Deserialize;
use sluice_data::datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, FixedSizeListBuilder, Float32Builder, Int64Builder,
};
use sluice_data::datafusion::arrow::datatypes::{DataType, Field};
use sluice_op::{Op, OpError, OpOutput, TaskContext, blocking, counters};

use crate::rejected::{Rejected, Rejection};
use crate::rows::{extend, texts, texts_if_any};

/// The default bound on decoded pixels: 64 million (an A4 page at 600 dpi is 35 million).
pub const MAX_PIXELS: u64 = 64_000_000;

/// Colours of a resized image.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Red, green, blue (the seed's, and CLIP's).
    #[default]
    Rgb,
    /// One channel.
    Gray,
}

/// Which pages of a multi-page TIFF.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Pages {
    /// The first only (the seed's).
    #[default]
    First,
    /// Every page, one row each.
    All,
}

/// The number of pages of an image (TIFF files may hold several).
pub fn page_count(bytes: &[u8], media: &str) -> Result<u32, String> {
    if media != "image/tiff" {
        return Ok(1);
    }
    let mut d = tiff::decoder::Decoder::new(Cursor::new(bytes))
        .map_err(|e| format!("corrupt TIFF: {e}"))?;
    let mut n = 1;
    while d.more_images() {
        d.next_image()
            .map_err(|e| format!("corrupt TIFF page {}: {e}", n + 1))?;
        n += 1;
    }
    Ok(n)
}

fn too_large(w: u64, h: u64, max_pixels: u64) -> Option<String> {
    (w.saturating_mul(h) > max_pixels).then(|| {
        format!(
            "{w}×{h} pixels ({:.1} million), more than max_pixels ({:.1} million): not decoded",
            (w * h) as f64 / 1e6,
            max_pixels as f64 / 1e6
        )
    })
}

/// Refuses an image of more than `max_pixels` from its header alone (page `page` of a
/// TIFF, from 0), before anything decodes it; an unreadable header is left to the decoder.
pub fn check_pixels(bytes: &[u8], page: u32, max_pixels: u64) -> Result<(), String> {
    let dims = if page > 0 {
        tiff::decoder::Decoder::new(Cursor::new(bytes))
            .and_then(|mut d| {
                d.seek_to_image(page as usize)?;
                d.dimensions()
            })
            .ok()
    } else {
        ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .ok()
            .and_then(|r| r.into_dimensions().ok())
    };
    match dims.and_then(|(w, h)| too_large(u64::from(w), u64::from(h), max_pixels)) {
        Some(m) => Err(m),
        None => Ok(()),
    }
}

/// Decodes page `page` (from 0) of an image, refusing more than `max_pixels` before any pixel
/// is decoded. Errors say what is wrong with the file.
pub fn decode_page(
    bytes: &[u8],
    media: &str,
    page: u32,
    max_pixels: u64,
) -> Result<DynamicImage, String> {
    if page > 0 {
        return decode_tiff_page(bytes, page, max_pixels);
    }
    let format = match media {
        "image/png" => ImageFormat::Png,
        "image/jpeg" => ImageFormat::Jpeg,
        "image/tiff" => ImageFormat::Tiff,
        "image/bmp" => ImageFormat::Bmp,
        other => return Err(format!("{other} is not an image this op decodes")),
    };
    let reader = |b| ImageReader::with_format(Cursor::new(b), format);
    let (w, h) = reader(bytes)
        .into_dimensions()
        .map_err(|e| format!("corrupt or truncated {media}: {e}"))?;
    if let Some(m) = too_large(u64::from(w), u64::from(h), max_pixels) {
        return Err(m);
    }
    let mut r = reader(bytes);
    let mut limits = Limits::default();
    // Room for the decoded page at 16 bits per channel, four channels.
    limits.max_alloc = Some(max_pixels.saturating_mul(8).max(64 << 20));
    r.limits(limits);
    r.decode()
        .map_err(|e| format!("corrupt or truncated {media}: {e}"))
}

fn decode_tiff_page(bytes: &[u8], page: u32, max_pixels: u64) -> Result<DynamicImage, String> {
    use tiff::ColorType;
    use tiff::decoder::{Decoder, DecodingResult};
    let bad = |e: tiff::TiffError| format!("corrupt TIFF page {}: {e}", page + 1);
    let mut d = Decoder::new(Cursor::new(bytes)).map_err(bad)?;
    d.seek_to_image(page as usize).map_err(bad)?;
    let (w, h) = d.dimensions().map_err(bad)?;
    if let Some(m) = too_large(u64::from(w), u64::from(h), max_pixels) {
        return Err(m);
    }
    let color = d.colortype().map_err(bad)?;
    let data = match d.read_image().map_err(bad)? {
        DecodingResult::U8(v) => v,
        _ => return Err(format!("TIFF page {}: only 8-bit pages are read", page + 1)),
    };
    let unsupported = || format!("TIFF page {}: colour type {color:?} is not read", page + 1);
    match color {
        ColorType::Gray(8) => image::GrayImage::from_raw(w, h, data).map(DynamicImage::ImageLuma8),
        ColorType::RGB(8) => image::RgbImage::from_raw(w, h, data).map(DynamicImage::ImageRgb8),
        ColorType::RGBA(8) => image::RgbaImage::from_raw(w, h, data).map(DynamicImage::ImageRgba8),
        _ => return Err(unsupported()),
    }
    .ok_or_else(unsupported)
}

/// `img` resized to exactly `width`×`height` with a bicubic filter (Catmull-Rom, as Pillow's
/// BICUBIC), in `mode`.
pub fn resized(img: &DynamicImage, width: u32, height: u32, mode: Mode) -> DynamicImage {
    let img = match mode {
        Mode::Rgb => DynamicImage::ImageRgb8(img.to_rgb8()),
        Mode::Gray => DynamicImage::ImageLuma8(img.to_luma8()),
    };
    img.resize_exact(width, height, FilterType::CatmullRom)
}

/// A thumbnail whose longest side is `side` pixels (never enlarged).
pub fn thumbnail(img: &DynamicImage, side: u32) -> DynamicImage {
    let (w, h) = (img.width(), img.height());
    if w.max(h) <= side {
        return img.clone();
    }
    let (tw, th) = if w >= h {
        (
            side,
            (u64::from(h) * u64::from(side) / u64::from(w)).max(1) as u32,
        )
    } else {
        (
            (u64::from(w) * u64::from(side) / u64::from(h)).max(1) as u32,
            side,
        )
    };
    img.resize_exact(tw, th, FilterType::Triangle)
}

/// The layout vector: the page in gray at `width`×`height` (area-averaged), each value the
/// ink (0 white, 1 black), row by row. A page's shape — margins, columns, tables, a big
/// headline — without its words.
pub fn layout(img: &DynamicImage, width: u32, height: u32) -> Vec<f32> {
    let gray = DynamicImage::ImageLuma8(img.to_luma8());
    let small = gray
        .resize_exact(width, height, FilterType::Triangle)
        .to_luma8();
    small
        .pixels()
        .map(|p| 1.0 - f32::from(p.0[0]) / 255.0)
        .collect()
}

/// PNG bytes of an image.
pub fn png(img: &DynamicImage) -> Result<Vec<u8>, String> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png)
        .map_err(|e| format!("cannot encode PNG: {e}"))?;
    Ok(out.into_inner())
}

fn default_max_pixels() -> u64 {
    MAX_PIXELS
}

fn default_thumbnail() -> u32 {
    256
}

fn default_path() -> String {
    "path".into()
}

/// `resize:` of the `image` op.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resize {
    /// Width in pixels (default 224).
    #[serde(default = "d224")]
    pub width: u32,
    /// Height in pixels (default 224).
    #[serde(default = "d224")]
    pub height: u32,
    /// `rgb` (default) or `gray`.
    #[serde(default)]
    pub mode: Mode,
}

fn d224() -> u32 {
    224
}

impl Default for Resize {
    fn default() -> Self {
        Resize {
            width: 224,
            height: 224,
            mode: Mode::Rgb,
        }
    }
}

/// `layout:` of the `image` op.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutSize {
    /// Width in cells (default 16).
    #[serde(default = "d16")]
    pub width: u32,
    /// Height in cells (default 20: a page's proportions).
    #[serde(default = "d20")]
    pub height: u32,
}

fn d16() -> u32 {
    16
}

fn d20() -> u32 {
    20
}

impl Default for LayoutSize {
    fn default() -> Self {
        LayoutSize {
            width: 16,
            height: 20,
        }
    }
}

/// `op: image`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageOp {
    /// The task whose rows name the files (`read.files`).
    pub input: String,
    /// The column of file paths (default `path`); `media_type` is read when present.
    #[serde(default = "default_path")]
    pub path: String,
    /// `first` (default) or `all` pages of a TIFF, one row each.
    #[serde(default)]
    pub pages: Pages,
    /// Images of more pixels are rejected before they are decoded (default 64 million).
    #[serde(default = "default_max_pixels")]
    pub max_pixels: u64,
    /// The resized copy, column `image` (PNG): `{width, height, mode}`; default 224×224 RGB.
    #[serde(default)]
    pub resize: Resize,
    /// The longest side of the thumbnail, column `thumbnail` (PNG; default 256, 0: none).
    #[serde(default = "default_thumbnail")]
    pub thumbnail: u32,
    /// The layout vector, column `layout`: `{width, height}` cells (default 16×20).
    #[serde(default)]
    pub layout: LayoutSize,
}

/// Builds `image`, checking its sizes.
pub fn build(config: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let op: ImageOp = sluice_core::from_node(config)?;
    let bad = <sluice_core::DeError as serde::de::Error>::custom;
    if op.resize.width == 0
        || op.resize.height == 0
        || op.resize.width > 4096
        || op.resize.height > 4096
    {
        return Err(bad("`resize` width and height are 1 to 4096 pixels"));
    }
    if op.layout.width == 0 || op.layout.height == 0 || op.layout.width * op.layout.height > 65_536
    {
        return Err(bad("`layout` is 1 to 65,536 cells"));
    }
    if op.max_pixels == 0 {
        return Err(bad("`max_pixels` must be positive"));
    }
    Ok(Box::new(op))
}

/// One page made ready.
struct Made {
    row: u32,
    page: u32,
    pages: u32,
    width: u32,
    height: u32,
    image: Vec<u8>,
    thumbnail: Option<Vec<u8>>,
    layout: Vec<f32>,
}

/// What became of one input row: its pages, or why it was rejected.
type Outcome = Result<Vec<Made>, (Option<u32>, String)>;

impl ImageOp {
    fn added(&self) -> Vec<Field> {
        let cells = (self.layout.width * self.layout.height) as i32;
        vec![
            Field::new("page", DataType::Int64, false),
            Field::new("pages", DataType::Int64, false),
            Field::new("width", DataType::Int64, false),
            Field::new("height", DataType::Int64, false),
            Field::new("image", DataType::Binary, false),
            Field::new("thumbnail", DataType::Binary, true),
            Field::new(
                "layout",
                DataType::FixedSizeList(
                    Arc::new(Field::new("item", DataType::Float32, true)),
                    cells,
                ),
                false,
            ),
        ]
    }

    /// Every page of one file (or its first), made ready.
    fn make(&self, row: u32, path: &Path, media: Option<&str>) -> Outcome {
        let bytes = std::fs::read(path).map_err(|e| (None, format!("cannot be read: {e}")))?;
        let media = media
            .map(str::to_string)
            .unwrap_or_else(|| crate::files::sniff(&bytes));
        let pages = match self.pages {
            Pages::First => 1,
            Pages::All => page_count(&bytes, &media).map_err(|e| (None, e))?,
        };
        let mut out = Vec::with_capacity(pages as usize);
        for page in 0..pages {
            let at = (pages > 1).then_some(page + 1);
            let img = decode_page(&bytes, &media, page, self.max_pixels).map_err(|e| (at, e))?;
            let r = &self.resize;
            let image = png(&resized(&img, r.width, r.height, r.mode)).map_err(|e| (at, e))?;
            let thumbnail = match self.thumbnail {
                0 => None,
                side => Some(png(&thumbnail(&img, side)).map_err(|e| (at, e))?),
            };
            out.push(Made {
                row,
                page: page + 1,
                pages,
                width: img.width(),
                height: img.height(),
                image,
                thumbnail,
                layout: layout(&img, self.layout.width, self.layout.height),
            });
        }
        Ok(out)
    }
}

fn columns(made: &[Made], cells: i32) -> Vec<ArrayRef> {
    let int = |f: &dyn Fn(&Made) -> u32| -> ArrayRef {
        let mut b = Int64Builder::with_capacity(made.len());
        for m in made {
            b.append_value(i64::from(f(m)));
        }
        Arc::new(b.finish())
    };
    let mut image = BinaryBuilder::new();
    let mut thumb = BinaryBuilder::new();
    let mut lay = FixedSizeListBuilder::new(Float32Builder::new(), cells);
    for m in made {
        image.append_value(&m.image);
        match &m.thumbnail {
            Some(t) => thumb.append_value(t),
            None => thumb.append_null(),
        }
        lay.values().append_slice(&m.layout);
        lay.append(true);
    }
    vec![
        int(&|m| m.page),
        int(&|m| m.pages),
        int(&|m| m.width),
        int(&|m| m.height),
        Arc::new(image.finish()),
        Arc::new(thumb.finish()),
        Arc::new(lay.finish()),
    ]
}

#[async_trait]
impl Op for ImageOp {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let op = self.clone();
        let input: PathBuf = ctx.input(&self.input)?.to_path_buf();
        let target = ctx.output()?.clone();
        let log = ctx.log.clone();
        let cancel = ctx.cancel.clone();
        let workdir = ctx.workdir.clone();
        blocking(move || {
            let cells = (op.layout.width * op.layout.height) as i32;
            let mut rejected = Rejected::default();
            let (mut pages, mut docs) = (0u64, 0u64);
            let info = extend(&input, &target, &op.added(), |batch| {
                if cancel.is_cancelled() {
                    return Err(OpError::cancelled("stopped"));
                }
                let paths = texts(batch, &op.path, &op.input)?;
                let media = texts_if_any(batch, "media_type", &op.input)?;
                let ids = texts_if_any(batch, "id", &op.input)?;
                let outcomes: Vec<Outcome> = (0..batch.num_rows())
                    .into_par_iter()
                    .map(|i| match &paths[i] {
                        None => Err((None, format!("no file: `{}` is null", op.path))),
                        Some(p) => op.make(i as u32, &workdir.join(p), media[i].as_deref()),
                    })
                    .collect();
                let mut made = Vec::new();
                for (i, o) in outcomes.into_iter().enumerate() {
                    match o {
                        Ok(m) => {
                            docs += 1;
                            made.extend(m);
                        }
                        Err((page, reason)) => rejected.push(
                            &log,
                            Rejection {
                                source: paths[i].clone().unwrap_or_default(),
                                id: ids[i].clone(),
                                page,
                                reason,
                            },
                        ),
                    }
                }
                pages += made.len() as u64;
                Ok((made.iter().map(|m| m.row).collect(), columns(&made, cells)))
            })?;
            rejected.write(&target)?;
            Ok(OpOutput {
                metrics: counters(&[
                    ("documents", docs),
                    ("pages", pages),
                    ("rejected", rejected.len() as u64),
                ]),
                dataset: Some(info.into()),
                ..OpOutput::default()
            })
        })
        .await
    }

    fn reads(&self) -> Vec<String> {
        vec![self.input.clone()]
    }

    fn produces_dataset(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(w: u32, h: u32) -> DynamicImage {
        let mut img = image::GrayImage::from_pixel(w, h, image::Luma([255]));
        for x in 0..w / 2 {
            img.put_pixel(x, 0, image::Luma([0]));
        }
        DynamicImage::ImageLuma8(img)
    }

    #[test]
    fn decodes_within_the_bound_and_names_what_is_wrong() {
        let bytes = png(&page(100, 80)).expect("png");
        let img = decode_page(&bytes, "image/png", 0, MAX_PIXELS).expect("decoded");
        assert_eq!((img.width(), img.height()), (100, 80));
        let e = decode_page(&bytes, "image/png", 0, 7_999).expect_err("too large");
        assert_eq!(
            e,
            "100×80 pixels (0.0 million), more than max_pixels (0.0 million): not decoded"
        );
        let e = decode_page(&bytes[..bytes.len() / 2], "image/png", 0, MAX_PIXELS)
            .expect_err("truncated");
        assert!(e.starts_with("corrupt or truncated image/png: "), "{e}");
        let e = decode_page(b"", "image/jpeg", 0, MAX_PIXELS).expect_err("empty");
        assert!(e.starts_with("corrupt or truncated image/jpeg: "), "{e}");
    }

    #[test]
    fn every_page_of_a_tiff() {
        let mut bytes = Cursor::new(Vec::new());
        {
            let mut enc = tiff::encoder::TiffEncoder::new(&mut bytes).expect("tiff");
            for (w, h) in [(30u32, 20u32), (40, 50), (10, 10)] {
                let data = vec![200u8; (w * h) as usize];
                enc.write_image::<tiff::encoder::colortype::Gray8>(w, h, &data)
                    .expect("page");
            }
        }
        let bytes = bytes.into_inner();
        assert_eq!(crate::files::sniff(&bytes), "image/tiff");
        assert_eq!(page_count(&bytes, "image/tiff"), Ok(3));
        let sizes: Vec<(u32, u32)> = (0..3)
            .map(|p| {
                let img = decode_page(&bytes, "image/tiff", p, MAX_PIXELS).expect("page");
                (img.width(), img.height())
            })
            .collect();
        assert_eq!(sizes, vec![(30, 20), (40, 50), (10, 10)]);
        let e = decode_page(&bytes, "image/tiff", 1, 100).expect_err("bound");
        assert!(e.starts_with("40×50 pixels"), "{e}");
        assert_eq!(check_pixels(&bytes, 1, 2000), Ok(()));
        assert!(check_pixels(&bytes, 1, 1999).is_err_and(|e| e.starts_with("40×50 pixels")));
        let png_bytes = png(&page(100, 80)).expect("png");
        assert!(check_pixels(&png_bytes, 0, 7_999).is_err_and(|e| e.starts_with("100×80 pixels")));
        assert_eq!(check_pixels(&png_bytes, 0, 8_000), Ok(()));
    }

    #[test]
    fn resized_thumbnail_and_layout() {
        let img = page(850, 1100);
        let r = resized(&img, 224, 224, Mode::Rgb);
        assert_eq!(
            (r.width(), r.height(), r.color()),
            (224, 224, image::ColorType::Rgb8)
        );
        let t = thumbnail(&img, 256);
        assert_eq!((t.width(), t.height()), (197, 256));
        let l = layout(&page(160, 200), 16, 20);
        assert_eq!(l.len(), 320);
        // Ink in the top row's left half only.
        assert!(
            l[0] > 0.0 && l[15] == 0.0 && l[16..].iter().all(|v| *v == 0.0),
            "{l:?}"
        );
    }
}
