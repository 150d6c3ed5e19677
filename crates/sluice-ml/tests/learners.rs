//! The learners on data whose answer is known: they learn it, the same seed gives the same
//! model whatever the thread count, a saved model predicts as before, and bad input gets an
//! error naming the column.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, FixedSizeListArray, Float32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use rand::{Rng, SeedableRng};
use sluice_ml::features::{FeatureSchema, LabelSchema};
use sluice_ml::metrics::Metric;
use sluice_ml::model::Part;
use sluice_ml::split::SplitSpec;
use sluice_ml::{Epoch, Model, ModelSpec, Prediction, Run};

/// Three classes around three centres in 8 dimensions, as a vector column, plus a numeric
/// column with missing values and a categorical one that carries part of the signal.
fn blobs(rows: usize, seed: u64) -> RecordBatch {
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let dim = 8;
    let mut vectors = Vec::with_capacity(rows * dim);
    let mut labels = Vec::with_capacity(rows);
    let mut extra = Vec::with_capacity(rows);
    let mut colour = Vec::with_capacity(rows);
    for _ in 0..rows {
        let class = r.gen_range(0..3i64);
        for j in 0..dim {
            let centre = if j as i64 % 3 == class { 2.0 } else { 0.0 };
            vectors.push(centre + r.gen_range(-1.5f32..1.5));
        }
        labels.push(class);
        extra.push((r.gen_range(0..10) != 0).then(|| class as f64 + r.gen_range(-2.0..2.0)));
        colour.push(
            ["red", "green", "blue"][(class as usize + usize::from(r.gen_range(0..4) == 0)) % 3],
        );
    }
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    let embedding = FixedSizeListArray::new(
        item.clone(),
        dim as i32,
        Arc::new(Float32Array::from(vectors)),
        None,
    );
    let schema = Schema::new(vec![
        Field::new(
            "embedding",
            DataType::FixedSizeList(item, dim as i32),
            false,
        ),
        Field::new("extra", DataType::Float64, true),
        Field::new("colour", DataType::Utf8, false),
        Field::new("label", DataType::Int64, false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(embedding),
        Arc::new(Float64Array::from(extra)),
        Arc::new(StringArray::from(colour)),
        Arc::new(Int64Array::from(labels)),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).expect("batch")
}

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

fn train(spec: &str, batches: &[RecordBatch], threads: usize, seed: u64) -> (Model, Vec<Epoch>) {
    let spec: ModelSpec = serde_json::from_str(spec).expect("spec");
    let features =
        FeatureSchema::infer(batches, &names(&["embedding", "extra", "colour"])).expect("features");
    let label = spec
        .supervised()
        .then(|| LabelSchema::infer(batches, "label", false).expect("label"));
    let frame = features.frame(batches).expect("frame");
    let targets = label.as_ref().map(|l| l.targets(batches).expect("targets"));
    let split = SplitSpec {
        valid: 0.2,
        test: 0.2,
        seed,
        ..SplitSpec::default()
    }
    .split(frame.rows, targets.as_deref())
    .expect("split");
    let mut epochs = Vec::new();
    let mut hook = |e: &Epoch| {
        epochs.push(e.clone());
        true
    };
    let mut run = Run {
        threads,
        seed,
        on_epoch: &mut hook,
    };
    let train = Part::take(&frame, targets.as_deref(), &split.train);
    let valid = Part::take(&frame, targets.as_deref(), &split.valid);
    let model = Model::fit(&spec, features, label, &train, &valid, &mut run).expect("fit");
    (model, epochs)
}

fn test_accuracy(model: &Model, batch: &RecordBatch) -> f64 {
    let frame = model.frame(std::slice::from_ref(batch)).expect("frame");
    let y = model
        .label
        .as_ref()
        .expect("label")
        .targets(std::slice::from_ref(batch))
        .expect("targets");
    let scores = model.score(&frame, Some(&y), 2).expect("score");
    scores
        .iter()
        .find(|(m, _)| *m == Metric::Accuracy)
        .map(|(_, v)| *v)
        .expect("accuracy")
}

#[test]
fn logistic_mlp_and_trees_learn_the_classes_and_repeat_for_a_seed() {
    let data = [blobs(3000, 1)];
    let fresh = blobs(1000, 2);
    for spec in [
        r#"{"type": "logistic"}"#,
        r#"{"type": "gbdt", "max_iter": 30, "min_samples_leaf": 10}"#,
        r#"{"type": "mlp", "hidden": [32, 16], "activation": "leaky_relu", "dropout": [0.2, 0.1], "epochs": 15}"#,
        r#"{"type": "mlp", "hidden": [16], "activation": "gelu", "epochs": 5, "early_stopping": 0}"#,
    ] {
        let (a, epochs) = train(spec, &data, 1, 7);
        let acc = test_accuracy(&a, &fresh);
        assert!(acc > 0.9, "{spec}: accuracy {acc}");
        assert!(!epochs.is_empty());
        let (b, _) = train(spec, &data, 2, 7);
        assert_eq!(
            serde_json::to_string(&a).expect("json"),
            serde_json::to_string(&b).expect("json"),
            "{spec}: same seed, 1 or 2 threads, same model"
        );
        let (c, _) = train(spec, &data, 2, 8);
        assert_ne!(a, c, "{spec}: another seed, another model");
    }
}

#[test]
fn mlp_reports_keras_figures_every_epoch_and_stops_early() {
    let data = [blobs(2000, 3)];
    let (model, epochs) = train(
        r#"{"type": "mlp", "hidden": [8], "epochs": 200, "early_stopping": 3, "learning_rate": 0.01}"#,
        &data,
        2,
        1,
    );
    let names: Vec<&str> = epochs[0].metrics.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["loss", "accuracy", "val_loss", "val_accuracy"]);
    assert!(epochs.len() < 200, "early stopping never stopped");
    let sluice_ml::Fitted::Mlp(m) = &model.fitted else {
        panic!("not an mlp")
    };
    assert_eq!(m.epochs, epochs.len());
    assert_eq!(
        m.best_epoch + 3,
        m.epochs,
        "kept the best epoch's weights, stopped 3 later"
    );
}

#[test]
fn kmeans_finds_the_centres_and_pca_the_variance() {
    let data = [blobs(3000, 4)];
    let (km, _) = train(
        r#"{"type": "kmeans", "k": 3, "batch_size": 256}"#,
        &data,
        2,
        1,
    );
    let frame = km.frame(&data).expect("frame");
    let Prediction::Clusters(c) = km.predict(&frame, 2).expect("predict") else {
        panic!("clusters")
    };
    // Each cluster is mostly one class.
    let labels = data[0].column_by_name("label").expect("label");
    let labels = labels.as_any().downcast_ref::<Int64Array>().expect("int64");
    let mut table = [[0usize; 3]; 3];
    for (i, (k, _)) in c.iter().enumerate() {
        table[*k as usize][labels.value(i) as usize] += 1;
    }
    for row in table {
        let total: usize = row.iter().sum();
        assert!(
            *row.iter().max().expect("max") as f64 > 0.7 * total as f64,
            "{table:?}"
        );
    }
    let (pca, _) = train(r#"{"type": "pca", "components": 2}"#, &data, 2, 1);
    let sluice_ml::Fitted::Pca(p) = &pca.fitted else {
        panic!("pca")
    };
    assert!(p.explained_variance_ratio[0] >= p.explained_variance_ratio[1]);
    let norm: f32 = p.components.row(0).iter().map(|v| v * v).sum();
    assert!((norm - 1.0).abs() < 1e-5, "unit components: {norm}");
}

#[test]
fn a_saved_model_predicts_the_same_and_checks_its_input() {
    let data = [blobs(1000, 5)];
    let (model, _) = train(
        r#"{"type": "mlp", "hidden": [16], "epochs": 3}"#,
        &data,
        2,
        1,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    model.save(dir.path()).expect("save");
    let back = Model::load(dir.path()).expect("load");
    assert_eq!(back, model);
    let frame = back.frame(&data).expect("frame");
    assert_eq!(
        back.predict(&frame, 2).expect("p"),
        model.predict(&frame, 2).expect("p")
    );

    // A missing column, and a vector of another dimension, are named.
    let without = data[0].project(&[1, 2, 3]).expect("project");
    let err = back.frame(&[without]).expect_err("missing column");
    assert_eq!(
        err.to_string(),
        "the input has no column `embedding` (its columns: extra, colour, label)"
    );
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    let short = FixedSizeListArray::new(
        item.clone(),
        4,
        Arc::new(Float32Array::from(vec![0.0; 4])),
        None,
    );
    let schema = Schema::new(vec![
        Field::new("embedding", DataType::FixedSizeList(item, 4), false),
        Field::new("extra", DataType::Float64, true),
        Field::new("colour", DataType::Utf8, false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(short),
        Arc::new(Float64Array::from(vec![1.0])),
        Arc::new(StringArray::from(vec!["red"])),
    ];
    let batch = RecordBatch::try_new(Arc::new(schema), columns).expect("batch");
    let err = back.frame(&[batch]).expect_err("wrong dimension");
    assert_eq!(
        err.to_string(),
        "column `embedding` has 4 values per row; the model expects 8"
    );
}
