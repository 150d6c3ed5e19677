//! sluice's CLIP against transformers' `CLIPModel` on a tiny random model made by
//! `bench/embed/make_tiny_clip.py` (fixtures/tiny-clip): the same token ids; image and text
//! vectors within cosine 0.9999 of transformers', for images prepared by sluice (resize,
//! crop, normalisation) and for transformers' own crops.

mod common;

use std::path::PathBuf;

use common::cosine;

use sluice_embed::ClipModel;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-clip")
}

fn floats(name: &str) -> Vec<f32> {
    common::floats(&fixture().join(name))
}

fn rgb(path: PathBuf) -> image::RgbImage {
    image::open(&path).expect("image").to_rgb8()
}

#[test]
fn text_vectors_match_transformers() {
    let model = ClipModel::load(&fixture(), None).expect("tiny CLIP");
    let texts: Vec<String> =
        serde_json::from_slice(&std::fs::read(fixture().join("texts.json")).expect("texts"))
            .expect("json");
    let ids: Vec<Vec<u32>> =
        serde_json::from_slice(&std::fs::read(fixture().join("token_ids.json")).expect("ids"))
            .expect("json");
    for (t, expected) in texts.iter().zip(&ids) {
        assert_eq!(&model.tokenize(t).expect("tokens"), expected, "{t}");
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let ours = model.embed_texts(&refs).expect("vectors");
    let theirs = floats("text_embeds.f32");
    let d = model.dimension();
    assert_eq!(ours.len(), theirs.len());
    let mut lowest = 1.0f64;
    for (i, (a, b)) in ours.chunks_exact(d).zip(theirs.chunks_exact(d)).enumerate() {
        let c = cosine(a, b);
        lowest = lowest.min(c);
        assert!(c >= 0.9999, "text {i} ({:?}): cosine {c}", texts[i]);
    }
    println!("texts: lowest cosine {lowest:.7}");
}

#[test]
fn image_vectors_match_transformers_preprocessing_included() {
    let model = ClipModel::load(&fixture(), None).expect("tiny CLIP");
    let theirs = floats("image_embeds.f32");
    let d = model.dimension();
    let n = theirs.len() / d;
    assert_eq!(n, 6);
    // transformers' own crops: the towers alone.
    let crops: Vec<Vec<f32>> = (0..n)
        .map(|i| model.normalised(&rgb(fixture().join(format!("crops/{i}.png")))))
        .collect();
    let towers = model.embed_pixels(&crops).expect("vectors");
    // The originals, prepared by sluice.
    let images: Vec<image::RgbImage> = (0..n)
        .map(|i| rgb(fixture().join(format!("images/{i}.png"))))
        .collect();
    let ours = model.embed_images(&images).expect("vectors");
    let (mut low_towers, mut low_ours, mut worst_mean) = (1.0f64, 1.0f64, 0.0f64);
    for i in 0..n {
        let r = &theirs[i * d..(i + 1) * d];
        let c = cosine(&towers[i * d..(i + 1) * d], r);
        low_towers = low_towers.min(c);
        assert!(c >= 0.99999, "image {i}, transformers' crop: cosine {c}");
        let c = cosine(&ours[i * d..(i + 1) * d], r);
        low_ours = low_ours.min(c);
        assert!(c >= 0.9999, "image {i}, sluice's preparation: cosine {c}");
        // The crops themselves: bicubic resizing differs by rounding only.
        let mine = model.prepared(&images[i]);
        let reference = rgb(fixture().join(format!("crops/{i}.png")));
        assert_eq!(mine.dimensions(), reference.dimensions(), "image {i}");
        let diffs: Vec<i32> = mine
            .as_raw()
            .iter()
            .zip(reference.as_raw())
            .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
            .collect();
        let mean = diffs.iter().sum::<i32>() as f64 / diffs.len() as f64;
        worst_mean = worst_mean.max(mean);
        assert!(mean < 1.0, "image {i}: mean difference {mean} of 255");
    }
    println!(
        "images: lowest cosine {low_ours:.7} (sluice's preparation), {low_towers:.7} (transformers' crops); crops differ by {worst_mean:.3} of 255 on average at most"
    );
}
