//! Tests of the boosted trees on synthetic data, and an ignored benchmark.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

fn fit_with(
    params: &GbdtParams,
    objective: Objective,
    x: &Frame,
    y: &[f32],
    valid: Option<(&Frame, &[f32])>,
    threads: usize,
) -> Result<Gbdt> {
    let mut on_epoch = |_: &Epoch| true;
    let mut run = Run {
        threads,
        seed: 7,
        on_epoch: &mut on_epoch,
    };
    Gbdt::fit(params, objective, x, y, valid, &mut run)
}

/// A frame of these columns (built field by field: the crate's `Frame` may have more fields).
#[allow(clippy::field_reassign_with_default)]
fn frame(columns: Vec<Vec<f32>>, categorical: Vec<Option<u32>>) -> Frame {
    let mut f = Frame::default();
    f.rows = columns.first().map_or(0, Vec::len);
    f.names = (0..columns.len()).map(|j| format!("x{j}")).collect();
    f.columns = columns;
    f.categorical = categorical;
    f
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

fn rmse(a: &[f32], b: &[f32]) -> f64 {
    let s: f64 = a
        .iter()
        .zip(b)
        .map(|(&p, &t)| f64::from(p - t).powi(2))
        .sum();
    (s / a.len() as f64).sqrt()
}

fn accuracy_binary(raw: &[f32], y: &[f32]) -> f64 {
    let hits = raw
        .iter()
        .zip(y)
        .filter(|&(&r, &t)| (r > 0.0) == (t == 1.0))
        .count();
    hits as f64 / y.len() as f64
}

fn argmax_accuracy(raw: &[f32], y: &[f32], k: usize) -> f64 {
    let hits = raw
        .chunks(k)
        .zip(y)
        .filter(|&(row, &t)| {
            let best = (0..k).fold(0, |b, c| if row[c] > row[b] { c } else { b });
            best == t as usize
        })
        .count();
    hits as f64 / y.len() as f64
}

fn log_loss(raw: &[f32], y: &[f32]) -> f64 {
    let s: f64 = raw
        .iter()
        .zip(y)
        .map(|(&r, &t)| {
            let p = f64::from(sigmoid(r)).clamp(1e-12, 1.0 - 1e-12);
            if t == 1.0 { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum();
    s / y.len() as f64
}

/// y = sin(x0) + x1² + uniform noise of standard deviation 0.29; also the noise-free target.
fn regression_data(n: usize, seed: u64) -> (Frame, Vec<f32>, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x0: Vec<f32> = (0..n).map(|_| rng.gen_range(-3.0..3.0)).collect();
    let x1: Vec<f32> = (0..n).map(|_| rng.gen_range(-2.0..2.0)).collect();
    let x2: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let clean: Vec<f32> = x0.iter().zip(&x1).map(|(a, b)| a.sin() + b * b).collect();
    let y = clean.iter().map(|c| c + rng.gen_range(-0.5..0.5)).collect();
    (frame(vec![x0, x1, x2], vec![None; 3]), y, clean)
}

#[test]
fn regression_learns_a_known_function() {
    let (x, y, _) = regression_data(10_000, 1);
    let (tx, ty, clean) = regression_data(5_000, 2);
    let model = fit_with(
        &GbdtParams::default(),
        Objective::Regression,
        &x,
        &y,
        None,
        2,
    )
    .expect("fit");
    let pred = model.predict_raw(&tx, 2);
    let mean = clean.iter().sum::<f32>() / clean.len() as f32;
    let baseline = rmse(&vec![mean; clean.len()], &clean);
    let to_clean = rmse(&pred, &clean);
    let to_noisy = rmse(&pred, &ty);
    eprintln!(
        "regression: rmse to clean {to_clean:.4}, to noisy {to_noisy:.4}, baseline {baseline:.4}"
    );
    assert!(baseline > 1.0, "{baseline}");
    assert!(
        to_clean < 0.1 * baseline,
        "{to_clean} vs baseline {baseline}"
    );
    assert!(to_noisy < 0.33, "{to_noisy} (noise 0.29)");
    assert_eq!(model.rounds(), 100);
    assert_eq!(model.outputs(), 1);
    let imp = model.feature_importance();
    assert!(imp[0] > imp[2] && imp[1] > imp[2], "{imp:?}");
}

/// A disc rule on (x0, x1), x0 missing in 10 % of rows, where the class is mostly 1.
fn binary_data(n: usize, seed: u64) -> (Frame, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut x0, mut x1, mut y) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let a: f32 = rng.gen_range(-1.0..1.0);
        let b: f32 = rng.gen_range(-1.0..1.0);
        let missing = rng.gen_bool(0.1);
        let label = if missing {
            rng.gen_bool(0.95)
        } else {
            a * a + b * b < 0.5
        };
        x0.push(if missing { f32::NAN } else { a });
        x1.push(b);
        y.push(f32::from(u8::from(label)));
    }
    (frame(vec![x0, x1], vec![None; 2]), y)
}

#[test]
fn binary_with_missing_values() {
    let (x, y) = binary_data(10_000, 3);
    let (tx, ty) = binary_data(5_000, 4);
    let model = fit_with(&GbdtParams::default(), Objective::Binary, &x, &y, None, 2).expect("fit");
    let raw = model.predict_raw(&tx, 1);
    let acc = accuracy_binary(&raw, &ty);
    eprintln!("binary: accuracy {acc:.4}");
    assert!(acc > 0.95, "accuracy {acc}");
    // Rows whose x0 is missing are mostly class 1: the trees must route them so.
    let (mut hit, mut n) = (0, 0);
    for (i, &v) in tx.columns[0].iter().enumerate() {
        if v.is_nan() {
            n += 1;
            hit += usize::from(raw[i] > 0.0);
        }
    }
    assert!(hit as f64 > 0.9 * n as f64, "{hit} of {n}");
    // Some splits on x0 send the missing rows left, others right.
    let on_x0 = |left: bool| {
        model
            .trees
            .iter()
            .any(|t| (0..t.feature.len()).any(|i| t.feature[i] == 0 && t.missing_left[i] == left))
    };
    assert!(on_x0(true) && on_x0(false));
}

#[test]
fn max_depth_and_max_leaves_bound_the_trees() {
    let (x, y, _) = regression_data(3_000, 16);
    let params = GbdtParams {
        max_iter: 5,
        max_depth: Some(3),
        ..GbdtParams::default()
    };
    let model = fit_with(&params, Objective::Regression, &x, &y, None, 1).expect("fit");
    for tree in &model.trees {
        // Depth of every leaf, from the root.
        let mut depth = vec![0usize; tree.feature.len()];
        let mut deepest = 0;
        for i in 0..tree.feature.len() {
            for c in [tree.left[i], tree.right[i]] {
                if c >= 0 {
                    depth[c as usize] = depth[i] + 1;
                } else {
                    deepest = deepest.max(depth[i] + 1);
                }
            }
        }
        assert!(deepest <= 3, "depth {deepest}");
        assert_eq!(tree.leaves.len(), 8);
    }
    let params = GbdtParams {
        max_iter: 5,
        max_leaves: 5,
        ..GbdtParams::default()
    };
    let model = fit_with(&params, Objective::Regression, &x, &y, None, 1).expect("fit");
    assert!(model.trees.iter().all(|t| t.leaves.len() == 5));
}

#[test]
fn missing_values_unseen_in_training_follow_the_larger_child() {
    let x0: Vec<f32> = (0..100).map(|i| i as f32).collect();
    let y: Vec<f32> = (0..100).map(|i| if i < 30 { 5.0 } else { -5.0 }).collect();
    let params = GbdtParams {
        max_iter: 1,
        max_leaves: 2,
        learning_rate: 1.0,
        min_samples_leaf: 5,
        ..GbdtParams::default()
    };
    let x = frame(vec![x0], vec![None]);
    let model = fit_with(&params, Objective::Regression, &x, &y, None, 1).expect("fit");
    let t = frame(vec![vec![0.0, 99.0, f32::NAN]], vec![None]);
    let p = model.predict_raw(&t, 1);
    assert!(
        (p[0] - 5.0).abs() < 1e-4 && (p[1] + 5.0).abs() < 1e-4,
        "{p:?}"
    );
    assert_eq!(p[2], p[1]);
}

/// 30 categories, each with its own random effect on the log-odds, plus a numeric feature.
fn categorical_data(n: usize, seed: u64, effects: &[f32]) -> (Frame, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut c, mut x, mut y) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let cat = rng.gen_range(0..effects.len());
        let v: f32 = rng.gen_range(-1.0..1.0);
        let p = sigmoid(effects[cat] + v);
        c.push(cat as f32);
        x.push(v);
        y.push(f32::from(u8::from(rng.gen_bool(f64::from(p)))));
    }
    (frame(vec![c, x], vec![Some(effects.len() as u32), None]), y)
}

#[test]
fn categorical_splits_beat_codes_as_numbers() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let effects: Vec<f32> = (0..30).map(|_| rng.gen_range(-2.5..2.5)).collect();
    let (x, y) = categorical_data(6_000, 6, &effects);
    let (tx, ty) = categorical_data(6_000, 7, &effects);
    let params = GbdtParams {
        max_iter: 20,
        max_leaves: 4,
        learning_rate: 0.3,
        ..GbdtParams::default()
    };
    let cat = fit_with(&params, Objective::Binary, &x, &y, None, 2).expect("fit");
    let mut numeric = x.clone();
    numeric.categorical = vec![None, None];
    let num = fit_with(&params, Objective::Binary, &numeric, &y, None, 2).expect("fit");
    let cat_loss = log_loss(&cat.predict_raw(&tx, 2), &ty);
    let mut tnum = tx.clone();
    tnum.categorical = vec![None, None];
    let num_loss = log_loss(&num.predict_raw(&tnum, 2), &ty);
    // The Bayes log loss of this data, for scale.
    let bayes = {
        let raw: Vec<f32> = (0..tx.rows)
            .map(|i| effects[tx.columns[0][i] as usize] + tx.columns[1][i])
            .collect();
        log_loss(&raw, &ty)
    };
    eprintln!("categorical: log loss {cat_loss:.4}, as numbers {num_loss:.4}, bayes {bayes:.4}");
    assert!(
        cat_loss < num_loss - 0.02,
        "categorical {cat_loss}, numeric {num_loss}, bayes {bayes}"
    );
    assert!(
        cat_loss < bayes + 0.03,
        "categorical {cat_loss}, bayes {bayes}"
    );
    assert!(cat.trees.iter().any(|t| !t.sets.is_empty()));
    // Unknown and missing codes predict (through the missing routing) without trouble.
    let odd = frame(
        vec![vec![f32::NAN, 99.0, -1.0, 2.5], vec![0.0; 4]],
        vec![Some(30), None],
    );
    assert!(cat.predict_raw(&odd, 1).iter().all(|v| v.is_finite()));
}

/// Three classes by region of (x0, x1), 5 % of labels random; x2 is noise.
fn multiclass_data(n: usize, seed: u64) -> (Frame, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut a, mut b, mut c, mut y) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let x0: f32 = rng.gen_range(-1.0..1.0);
        let x1: f32 = rng.gen_range(-1.0..1.0);
        let label = if rng.gen_bool(0.05) {
            rng.gen_range(0..3)
        } else if x0 < -0.3 {
            0
        } else if x1 > x0 * 0.5 {
            1
        } else {
            2
        };
        a.push(x0);
        b.push(x1);
        c.push(rng.gen_range(-1.0..1.0));
        y.push(label as f32);
    }
    (frame(vec![a, b, c], vec![None; 3]), y)
}

#[test]
fn multiclass_three_classes() {
    let (x, y) = multiclass_data(9_000, 8);
    let (tx, ty) = multiclass_data(3_000, 9);
    let objective = Objective::Multiclass { classes: 3 };
    let params = GbdtParams {
        max_iter: 50,
        ..GbdtParams::default()
    };
    let model = fit_with(&params, objective, &x, &y, None, 2).expect("fit");
    assert_eq!(model.outputs(), 3);
    assert_eq!(model.rounds(), 50);
    let raw = model.predict_raw(&tx, 2);
    assert_eq!(raw.len(), 3 * tx.rows);
    let acc = argmax_accuracy(&raw, &ty, 3);
    eprintln!("multiclass: accuracy {acc:.4}");
    assert!(acc > 0.93, "accuracy {acc}");
}

#[test]
fn early_stopping_keeps_the_best_round() {
    let (x, y, _) = regression_data(2_000, 10);
    let (vx, vy, _) = regression_data(1_000, 11);
    let params = GbdtParams {
        max_iter: 1_000,
        learning_rate: 0.3,
        early_stopping: Some(5),
        ..GbdtParams::default()
    };
    let mut epochs: Vec<Epoch> = Vec::new();
    let mut on_epoch = |e: &Epoch| {
        epochs.push(e.clone());
        true
    };
    let mut run = Run {
        threads: 2,
        seed: 1,
        on_epoch: &mut on_epoch,
    };
    let model = Gbdt::fit(
        &params,
        Objective::Regression,
        &x,
        &y,
        Some((&vx, &vy)),
        &mut run,
    )
    .expect("fit");
    let kept = model.rounds();
    eprintln!("early stopping: kept {kept} rounds");
    assert!(kept < 100, "kept {kept}");
    assert_eq!(epochs.len(), kept + 5);
    let val: Vec<f64> = epochs.iter().map(|e| e.metrics[1].1).collect();
    assert_eq!(epochs[0].metrics[1].0, "val_loss");
    let best = val.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(val[kept - 1], best);
    // The kept model scores the validation loss of its best round.
    let mse = rmse(&model.predict_raw(&vx, 1), &vy).powi(2);
    assert!((mse - best).abs() < 1e-5, "{mse} vs {best}");
    // Without validation data, 10 % of the training rows are held out.
    let model = fit_with(&params, Objective::Regression, &x, &y, None, 1).expect("fit");
    assert!(model.rounds() < 1_000);
}

#[test]
fn cancellation_stops_at_once() {
    let (x, y, _) = regression_data(1_000, 12);
    let mut calls = 0;
    let mut on_epoch = |e: &Epoch| {
        calls += 1;
        assert_eq!(e.metrics[0].0, "loss");
        e.epoch < 3
    };
    let mut run = Run {
        threads: 1,
        seed: 1,
        on_epoch: &mut on_epoch,
    };
    let r = Gbdt::fit(
        &GbdtParams::default(),
        Objective::Regression,
        &x,
        &y,
        None,
        &mut run,
    );
    assert!(matches!(r, Err(MlError::Cancelled)));
    assert_eq!(calls, 3);
}

/// Numeric, missing and categorical columns (the last 5 pure noise), more rows than a
/// histogram chunk.
fn mixed_data(n: usize, seed: u64) -> (Frame, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut cols: Vec<Vec<f32>> = vec![Vec::new(); 10];
    let mut y = Vec::new();
    for _ in 0..n {
        let v: Vec<f32> = (0..3).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        let cat = rng.gen_range(0..300u32);
        let small = rng.gen_range(0..5u32);
        let logit = v[0] * 2.0 - v[1] * v[2] + (cat % 7) as f32 * 0.3 - small as f32 * 0.2;
        y.push(f32::from(u8::from(rng.gen_bool(f64::from(sigmoid(logit))))));
        cols[0].push(if rng.gen_bool(0.1) { f32::NAN } else { v[0] });
        cols[1].push(v[1]);
        cols[2].push((v[2] * 20.0).round());
        cols[3].push(cat as f32);
        cols[4].push(if rng.gen_bool(0.05) {
            f32::NAN
        } else {
            small as f32
        });
        for c in &mut cols[5..] {
            c.push(rng.gen_range(0.0..1.0));
        }
    }
    let mut categorical = vec![None, None, None, Some(300), Some(5)];
    categorical.extend([None; 5]);
    (frame(cols, categorical), y)
}

#[test]
fn models_are_deterministic_whatever_the_thread_count() {
    let (wide, y) = mixed_data(60_000, 13);
    // 10 features: histograms by feature groups; 5: by row chunks.
    let mut narrow = wide.clone();
    narrow.columns.truncate(5);
    narrow.categorical.truncate(5);
    narrow.names.truncate(5);
    let params = GbdtParams {
        max_iter: 5,
        ..GbdtParams::default()
    };
    for x in [&wide, &narrow] {
        let a = fit_with(&params, Objective::Binary, x, &y, None, 1).expect("fit");
        let ja = serde_json::to_string(&a).expect("json");
        for threads in [2, 3] {
            let b = fit_with(&params, Objective::Binary, x, &y, None, threads).expect("fit");
            assert!(
                ja == serde_json::to_string(&b).expect("json"),
                "{threads} threads"
            );
        }
        // Read back, the model predicts the same and writes the same JSON.
        let back: Gbdt = serde_json::from_str(&ja).expect("read back");
        assert!(back == a);
        assert!(serde_json::to_string(&back).expect("json") == ja);
        assert_eq!(back.predict_raw(x, 2), a.predict_raw(x, 1));
    }
    // 300 categories: u16 bins.
    let fb = [bins::FeatureBins::Categorical { categories: 300 }];
    let one = frame(vec![vec![299.0]], vec![Some(300)]);
    assert!(matches!(
        bins::bin_frame(&one, &fb, 1).columns[0],
        bins::BinColumn::U16(_)
    ));
}

#[test]
fn training_scores_match_predictions() {
    let (x, y) = mixed_data(5_000, 14);
    let params = GbdtParams {
        max_iter: 20,
        ..GbdtParams::default()
    };
    let mut last = 0.0;
    let mut on_epoch = |e: &Epoch| {
        last = e.metrics[0].1;
        true
    };
    let mut run = Run {
        threads: 2,
        seed: 3,
        on_epoch: &mut on_epoch,
    };
    let model = Gbdt::fit(&params, Objective::Binary, &x, &y, None, &mut run).expect("fit");
    let raw = model.predict_raw(&x, 2);
    let from_predictions = log_loss(&raw, &y);
    assert!(
        (from_predictions - last).abs() < 1e-5,
        "{from_predictions} vs {last}"
    );
}

#[test]
fn corrupt_models_are_refused() {
    let (x, y, _) = regression_data(500, 15);
    let params = GbdtParams {
        max_iter: 2,
        ..GbdtParams::default()
    };
    let model = fit_with(&params, Objective::Regression, &x, &y, None, 1).expect("fit");
    let mut json = serde_json::to_value(&model).expect("json");
    json["trees"][0]["left"][0] = serde_json::json!(0);
    let err = serde_json::from_value::<Gbdt>(json)
        .map(|_| ())
        .expect_err("a corrupt model is refused")
        .to_string();
    assert!(err.starts_with("tree 0: node 0 has a bad child 0"), "{err}");
}

#[test]
fn degenerate_data_fits_without_trouble() {
    let d = GbdtParams::default();
    // No columns: every tree is one leaf, the prediction the mean.
    let mut none = frame(Vec::new(), Vec::new());
    none.rows = 4;
    let y = [1.0, 2.0, 3.0, 6.0];
    let m = fit_with(&d, Objective::Regression, &none, &y, None, 2).expect("fit");
    assert_eq!(m.features(), 0);
    assert!((m.predict_raw(&none, 1)[0] - 3.0).abs() < 1e-5);
    // Constant, all-missing and categorical-without-categories columns; one class only.
    let x = frame(
        vec![vec![1.0; 50], vec![f32::NAN; 50], vec![f32::NAN; 50]],
        vec![None, None, Some(0)],
    );
    let m = fit_with(&d, Objective::Binary, &x, &[0.0; 50], None, 1).expect("fit");
    let p = m.predict_raw(&x, 1);
    assert!(
        p.iter().all(|&v| v < -10.0 && v.is_finite()),
        "{:?}",
        &p[..3]
    );
    // Fewer columns, and no rows, at prediction.
    let narrow = frame(vec![vec![1.0; 3]], vec![None]);
    assert_eq!(m.predict_raw(&narrow, 2).len(), 3);
    assert!(m.predict_raw(&Frame::default(), 2).is_empty());
    // One row, two bins.
    let one = frame(vec![vec![0.5]], vec![None]);
    let p = GbdtParams {
        max_bins: 2,
        ..GbdtParams::default()
    };
    let m = fit_with(
        &p,
        Objective::Multiclass { classes: 3 },
        &one,
        &[2.0],
        None,
        1,
    )
    .expect("fit");
    let raw = m.predict_raw(&one, 1);
    assert!(raw[2] > raw[0] && raw[2] > raw[1], "{raw:?}");
}

#[test]
fn params_read_a_subset_and_refuse_unknown_fields() {
    let p: GbdtParams = serde_json::from_str(r#"{"max_iter": 5, "early_stopping": 3}"#).expect("p");
    assert_eq!(
        p,
        GbdtParams {
            max_iter: 5,
            early_stopping: Some(3),
            ..GbdtParams::default()
        }
    );
    let e = serde_json::from_str::<GbdtParams>(r#"{"max_iters": 5}"#).map(|_| ());
    assert!(e.is_err());
    let o: Objective = serde_json::from_str(r#"{"multiclass": {"classes": 4}}"#).expect("o");
    assert_eq!(o, Objective::Multiclass { classes: 4 });
    let json = serde_json::to_string(&o).expect("json");
    assert_eq!(json, r#"{"Multiclass":{"classes":4}}"#);
    assert_eq!(serde_json::from_str::<Objective>(&json).expect("o"), o);
    assert_eq!(
        serde_json::from_str::<Objective>(r#""binary""#).expect("o"),
        Objective::Binary
    );
}

#[test]
fn errors_say_what_is_wrong() {
    let x = frame(vec![vec![1.0, 2.0, 3.0]], vec![None]);
    let y = [0.0, 1.0, 1.0];
    let err = |p: &GbdtParams, o: Objective, x: &Frame, y: &[f32]| {
        fit_with(p, o, x, y, None, 1)
            .map(|_| ())
            .expect_err("refused")
            .to_string()
    };
    let d = GbdtParams::default();
    let b = Objective::Binary;
    let empty = frame(vec![vec![]], vec![None]);
    assert_eq!(err(&d, b, &empty, &[]), "the training data has no rows");
    assert_eq!(
        err(&d, b, &x, &y[..2]),
        "y has 2 values but the training data has 3 rows"
    );
    assert_eq!(
        err(&d, b, &x, &[0.0, 2.0, 1.0]),
        "the training target is 2 at row 1: class codes must be integers in 0..2"
    );
    assert_eq!(
        err(
            &d,
            Objective::Multiclass { classes: 3 },
            &x,
            &[0.0, 1.5, 1.0]
        ),
        "the training target is 1.5 at row 1: class codes must be integers in 0..3"
    );
    assert_eq!(
        err(&d, Objective::Regression, &x, &[0.0, f32::NAN, 1.0]),
        "the training target is NaN at row 1"
    );
    assert_eq!(
        err(&d, Objective::Regression, &x, &[0.0, f32::INFINITY, 1.0]),
        "the training target is inf at row 1: it must be finite"
    );
    let p = |f: fn(&mut GbdtParams)| {
        let mut p = GbdtParams::default();
        f(&mut p);
        err(&p, b, &x, &y)
    };
    assert_eq!(
        p(|p| p.max_leaves = 1),
        "max_leaves must be at least 2, got 1"
    );
    assert_eq!(
        p(|p| p.learning_rate = 0.0),
        "learning_rate must be a positive number, got 0"
    );
    assert_eq!(
        p(|p| p.max_bins = 1),
        "max_bins must be between 2 and 255, got 1"
    );
    assert_eq!(
        p(|p| p.max_bins = 256),
        "max_bins must be between 2 and 255, got 256"
    );
    assert_eq!(
        p(|p| p.min_samples_leaf = 0),
        "min_samples_leaf must be at least 1, got 0"
    );
    assert_eq!(
        p(|p| p.max_depth = Some(0)),
        "max_depth must be at least 1, got 0"
    );
    assert_eq!(p(|p| p.l2 = -1.0), "l2 must be a number >= 0, got -1");
    assert_eq!(
        p(|p| p.early_stopping = Some(0)),
        "early_stopping must be at least 1 round, got 0"
    );
    assert_eq!(
        err(&d, Objective::Multiclass { classes: 1 }, &x, &y),
        "multiclass needs at least 2 classes, got 1"
    );
    let mut short = frame(vec![vec![1.0, 2.0]], vec![None]);
    short.rows = 3;
    short.names = vec!["age".into()];
    assert_eq!(
        err(&d, b, &short, &y),
        "column age of the training data has 2 values for 3 rows"
    );
    let wide = frame(vec![vec![1.0, 2.0, 3.0]; 2], vec![None; 2]);
    let r = fit_with(&d, b, &x, &y, Some((&wide, &y)), 1).map(|_| ());
    assert_eq!(
        r.expect_err("cancelled").to_string(),
        "the validation data has 2 columns but the training data has 1"
    );
}

/// The benchmark of the report: 200,000 rows × (20 numeric + 2 categorical), 3 classes,
/// 100 rounds of 31 leaves on 2 threads, tested on the last 20 %. `GBDT_BENCH_CSV=path` also
/// writes the data for `bench/compare.py`.
#[test]
#[ignore]
fn bench_200k() {
    let (x, y) = bench_data(200_000, 42);
    if let Ok(path) = std::env::var("GBDT_BENCH_CSV") {
        write_csv(&path, &x, &y).expect("csv");
    }
    let n_train = 160_000;
    let part = |r: std::ops::Range<usize>| subset(&x, &r.collect::<Vec<usize>>());
    let (train, test) = (part(0..n_train), part(n_train..x.rows));
    let threads = std::env::var("GBDT_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let (start, cpu) = (std::time::Instant::now(), cpu_seconds());
    let model = fit_with(
        &GbdtParams::default(),
        Objective::Multiclass { classes: 3 },
        &train,
        &y[..n_train],
        None,
        threads,
    )
    .expect("fit");
    let fit_s = start.elapsed().as_secs_f64();
    let fit_cpu = cpu_seconds() - cpu;
    let start = std::time::Instant::now();
    let raw = model.predict_raw(&test, threads);
    let predict_s = start.elapsed().as_secs_f64();
    let acc = argmax_accuracy(&raw, &y[n_train..], 3);
    let json = serde_json::to_string(&model).map_or(0, |j| j.len());
    eprintln!("model: {} trees, {json} bytes of JSON", model.trees.len());
    eprintln!(
        "sluice gbdt: fit {fit_s:.2} s (cpu {fit_cpu:.2} s), predict {predict_s:.3} s, accuracy {acc:.4}, threads {threads}"
    );
}

/// CPU time of this process (user + system), from `/proc/self/stat` (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of the file (utime, stime), counted after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

/// 20 numeric columns (5 % missing in the first 5), 2 categorical (12 and 60 categories),
/// 3 classes from noisy nonlinear class scores.
fn bench_data(n: usize, seed: u64) -> (Frame, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut cols: Vec<Vec<f32>> = (0..22).map(|_| Vec::with_capacity(n)).collect();
    let cat_a: Vec<[f32; 3]> = (0..12)
        .map(|_| [0; 3].map(|_| rng.gen_range(-1.0..1.0)))
        .collect();
    let cat_b: Vec<[f32; 3]> = (0..60)
        .map(|_| [0; 3].map(|_| rng.gen_range(-1.0..1.0)))
        .collect();
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let v: Vec<f32> = (0..20)
            .map(|_| (0..3).map(|_| rng.gen_range(-1.0f32..1.0)).sum::<f32>())
            .collect();
        let a = rng.gen_range(0..12);
        let b = rng.gen_range(0..60);
        let score = [
            v[0] + v[1] * v[2] * 0.5 + (v[3] * 2.0).sin() + cat_a[a][0] + cat_b[b][0],
            v[4] - v[5].abs() + v[6] * v[7] * 0.3 + cat_a[a][1] + cat_b[b][1],
            (v[8] > 0.5) as u8 as f32 * 1.5 - v[9] * 0.5
                + v[10] * v[0] * 0.3
                + cat_a[a][2]
                + cat_b[b][2],
        ];
        let noisy: Vec<f32> = score
            .iter()
            .map(|s| {
                let u: f32 = rng.gen_range(1e-6..1.0);
                s - (-u.ln()).ln() * 0.7
            })
            .collect();
        let label = (0..3).fold(0, |m, c| if noisy[c] > noisy[m] { c } else { m });
        y.push(label as f32);
        for (j, &val) in v.iter().enumerate() {
            cols[j].push(if j < 5 && rng.gen_bool(0.05) {
                f32::NAN
            } else {
                val
            });
        }
        cols[20].push(a as f32);
        cols[21].push(b as f32);
    }
    let mut categorical = vec![None; 20];
    categorical.extend([Some(12), Some(60)]);
    (frame(cols, categorical), y)
}

fn write_csv(path: &str, x: &Frame, y: &[f32]) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let header: Vec<String> = (0..x.columns.len())
        .map(|j| {
            if j < 20 {
                format!("x{j}")
            } else {
                format!("c{}", j - 20)
            }
        })
        .collect();
    writeln!(out, "{},y", header.join(","))?;
    for (i, label) in y.iter().enumerate() {
        for column in &x.columns {
            let v = column[i];
            if v.is_nan() {
                write!(out, ",")?;
            } else {
                write!(out, "{v},")?;
            }
        }
        writeln!(out, "{label}")?;
    }
    Ok(())
}
