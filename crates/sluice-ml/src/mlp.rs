//! A multi-layer perceptron: dense hidden layers (ReLU, leaky ReLU or GELU, with dropout), a
//! softmax output for classes or a linear one for a value, trained by Adam on shuffled
//! mini-batches, with early stopping on the validation rows (the best epoch's weights are
//! kept). The matrix products are `sluice-kernels`' (gemm), on several threads when a product
//! is large enough to share.

use serde::{Deserialize, Serialize};
use sluice_kernels::{Layout, matmul_threads};

use crate::linear::softmax_xent;
use crate::rng::{Rng, SliceRandom, rng};
use crate::{Epoch, Matrix, MlError, Result, Run, kernels, metrics};

/// The non-linearity of the hidden layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(0, x)`.
    #[default]
    Relu,
    /// `x` if positive, else `negative_slope · x`.
    LeakyRelu,
    /// `x Φ(x)` (exact, with erf).
    Gelu,
}

/// One dropout rate for every hidden layer, or one per layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dropout {
    /// The same rate after every hidden layer.
    All(f32),
    /// A rate per hidden layer.
    PerLayer(Vec<f32>),
}

impl Default for Dropout {
    fn default() -> Self {
        Dropout::All(0.0)
    }
}

/// Settings of `model: {type: mlp}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MlpParams {
    /// Units of each hidden layer.
    pub hidden: Vec<usize>,
    /// Non-linearity of the hidden layers.
    pub activation: Activation,
    /// Slope of leaky ReLU below zero.
    pub negative_slope: f32,
    /// Dropout after each hidden layer (training only).
    pub dropout: Dropout,
    /// Adam's step size.
    pub learning_rate: f64,
    /// Rows per mini-batch.
    pub batch_size: usize,
    /// Passes over the training rows, at most.
    pub epochs: usize,
    /// Stop when the validation loss has not improved for this many epochs and keep the best
    /// epoch's weights (0: never stop early).
    pub early_stopping: usize,
    /// L2 penalty on the weights (added to the gradient, as weight decay).
    pub l2: f64,
}

impl Default for MlpParams {
    fn default() -> Self {
        MlpParams {
            hidden: vec![100],
            activation: Activation::Relu,
            negative_slope: 0.01,
            dropout: Dropout::default(),
            learning_rate: 1e-3,
            batch_size: 32,
            epochs: 50,
            early_stopping: 10,
            l2: 0.0,
        }
    }
}

/// One dense layer: `x · w + b`, `w` is `inputs × outputs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    /// Weights, `inputs × outputs`.
    pub w: Matrix,
    /// Biases.
    pub b: Vec<f32>,
}

/// A fitted MLP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mlp {
    /// Hidden layers then the output layer.
    pub layers: Vec<Dense>,
    /// Non-linearity of the hidden layers.
    pub activation: Activation,
    /// Slope of leaky ReLU below zero.
    pub negative_slope: f32,
    /// `Some(classes)` for a classifier (softmax output), `None` for a regressor.
    pub classes: Option<usize>,
    /// Regression: mean and deviation of the target (the network predicts it standardised).
    pub target_scale: (f32, f32),
    /// Epochs trained; the kept weights are those of `best_epoch`.
    pub epochs: usize,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
}

/// Products at least this large (multiply-adds) run on several threads.
const PARALLEL_WORK: usize = 1 << 20;

fn product(dst: &mut [f32], d: Layout, a: &[f32], l: Layout, b: &[f32], r: Layout, threads: usize) {
    let work = d.rows * d.cols * l.cols;
    let threads = if work >= PARALLEL_WORK { threads } else { 1 };
    matmul_threads(dst, d, a, l, b, r, false, threads);
}

fn activate(z: &[f32], a: &mut [f32], width: usize, act: Activation, slope: f32) {
    match act {
        Activation::Relu => {
            for (o, &v) in a.iter_mut().zip(z) {
                *o = v.max(0.0);
            }
        }
        Activation::LeakyRelu => {
            for (o, &v) in a.iter_mut().zip(z) {
                *o = if v > 0.0 { v } else { slope * v };
            }
        }
        Activation::Gelu => {
            a.copy_from_slice(z);
            kernels().bias_gelu(a, &vec![0.0; width]);
        }
    }
}

/// `δ ← δ ⊙ act'(z)`.
fn activation_grad(delta: &mut [f32], z: &[f32], act: Activation, slope: f32) {
    match act {
        Activation::Relu => {
            for (d, &v) in delta.iter_mut().zip(z) {
                if v <= 0.0 {
                    *d = 0.0;
                }
            }
        }
        Activation::LeakyRelu => {
            for (d, &v) in delta.iter_mut().zip(z) {
                if v <= 0.0 {
                    *d *= slope;
                }
            }
        }
        Activation::Gelu => {
            const INV_SQRT_2PI: f32 = 0.398_942_3;
            for (d, &v) in delta.iter_mut().zip(z) {
                let cdf = 0.5 * (1.0 + sluice_kernels::erf(v * std::f32::consts::FRAC_1_SQRT_2));
                let pdf = INV_SQRT_2PI * (-0.5 * v * v).exp();
                *d *= cdf + v * pdf;
            }
        }
    }
}

/// Adam's moments of one parameter tensor.
struct Moments {
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Moments {
    fn new(n: usize) -> Moments {
        Moments {
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    fn step(&mut self, p: &mut [f32], g: &[f32], lr: f32, t: i32, l2: f32) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        const EPS: f32 = 1e-8;
        let c1 = 1.0 - B1.powi(t);
        let c2 = 1.0 - B2.powi(t);
        let step = lr * c2.sqrt() / c1;
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(&mut self.m).zip(&mut self.v) {
            let g = g + l2 * *p;
            *m = B1 * *m + (1.0 - B1) * g;
            *v = B2 * *v + (1.0 - B2) * g * g;
            *p -= step * *m / (v.sqrt() + EPS * c2.sqrt());
        }
    }
}

/// Buffers of one mini-batch: per layer the pre-activations `z`, the outputs `a` (after
/// dropout) and the dropout mask.
struct Batch {
    z: Vec<Vec<f32>>,
    a: Vec<Vec<f32>>,
    mask: Vec<Vec<f32>>,
}

impl Mlp {
    fn widths(&self) -> Vec<usize> {
        let mut w = vec![self.layers[0].w.rows];
        w.extend(self.layers.iter().map(|l| l.w.cols));
        w
    }

    /// Forward pass of `m` rows; `batch.a[0]` holds the input. Dropout when `rates` is given.
    fn forward(
        &self,
        batch: &mut Batch,
        m: usize,
        rates: Option<(&[f32], &mut crate::rng::Rand)>,
        threads: usize,
    ) {
        let widths = self.widths();
        let last = self.layers.len() - 1;
        let mut rates = rates;
        for (l, layer) in self.layers.iter().enumerate() {
            let (inp, out) = (widths[l], widths[l + 1]);
            let (before, after) = batch.a.split_at_mut(l + 1);
            let x = &before[l][..m * inp];
            let z = &mut batch.z[l][..m * out];
            product(
                z,
                Layout::dense(m, out),
                x,
                Layout::dense(m, inp),
                &layer.w.data,
                layer.w.layout(),
                threads,
            );
            kernels().add_bias(z, &layer.b);
            if l < last {
                let a = &mut after[0][..m * out];
                activate(z, a, out, self.activation, self.negative_slope);
                if let Some((rates, r)) = rates.as_mut() {
                    let p = rates[l];
                    let mask = &mut batch.mask[l][..m * out];
                    if p > 0.0 {
                        let keep = 1.0 / (1.0 - p);
                        for (mk, av) in mask.iter_mut().zip(a.iter_mut()) {
                            *mk = if r.r#gen::<f32>() < p { 0.0 } else { keep };
                            *av *= *mk;
                        }
                    } else {
                        mask.iter_mut().for_each(|v| *v = 1.0);
                    }
                }
            }
        }
    }

    fn buffers(&self, rows: usize) -> Batch {
        let widths = self.widths();
        Batch {
            z: widths[1..].iter().map(|w| vec![0.0; rows * w]).collect(),
            a: widths[..widths.len() - 1]
                .iter()
                .map(|w| vec![0.0; rows * w])
                .collect(),
            mask: widths[1..].iter().map(|w| vec![1.0; rows * w]).collect(),
        }
    }

    /// Raw outputs (before softmax) of preprocessed rows, in blocks of 256 rows.
    fn outputs(&self, x: &Matrix, threads: usize) -> Matrix {
        let k = self.layers.last().map_or(0, |l| l.w.cols);
        let d = x.cols;
        let mut out = Matrix::zeros(x.rows, k);
        const ROWS: usize = 256;
        crate::frame::par_rows_mut(&mut out.data, k, ROWS, threads, |start, block| {
            let m = block.len() / k;
            let mut b = self.buffers(m);
            b.a[0][..m * d].copy_from_slice(&x.data[start * d..(start + m) * d]);
            self.forward(&mut b, m, None, 1);
            block.copy_from_slice(&b.z[self.layers.len() - 1][..m * k]);
        });
        out
    }

    /// Class probabilities (classifier) or predicted values (one column, regressor) of
    /// preprocessed rows.
    pub fn predict(&self, x: &Matrix, threads: usize) -> Matrix {
        let mut out = self.outputs(x, threads);
        match self.classes {
            Some(k) => kernels().softmax_rows(&mut out.data, k),
            None => {
                let (mean, std) = self.target_scale;
                out.data.iter_mut().for_each(|v| *v = *v * std + mean);
            }
        }
        out
    }

    /// Loss (and accuracy for a classifier) of preprocessed rows.
    fn evaluate(&self, x: &Matrix, y: &[f32], threads: usize) -> (f64, Option<f64>) {
        let p = self.predict(x, threads);
        match self.classes {
            Some(_) => (metrics::logloss(&p, y), Some(metrics::accuracy(&p, y))),
            None => (metrics::rmse(&p.data, y).powi(2), None),
        }
    }

    /// Trains on preprocessed rows `x` with class codes (`classes: Some(k)`) or values `y`;
    /// `valid` rows drive early stopping and the `val_` figures of each epoch.
    pub fn fit(
        params: &MlpParams,
        x: &Matrix,
        y: &[f32],
        classes: Option<usize>,
        valid: Option<(&Matrix, &[f32])>,
        run: &mut Run,
    ) -> Result<Mlp> {
        let rates = check(params)?;
        if x.rows == 0 {
            return Err(MlError::Data("no training rows".into()));
        }
        let mut model = Mlp::init(params, x.cols, classes, y, run.seed);
        let (mean, std) = model.target_scale;
        let y_scaled: Vec<f32> = match classes {
            Some(_) => y.to_vec(),
            None => y.iter().map(|v| (v - mean) / std).collect(),
        };
        let mut trainer = Trainer::new(&model, params, rates, run.threads);
        let mut order: Vec<usize> = (0..x.rows).collect();
        let mut shuffle = rng(run.seed, 12);
        let mut dropout = rng(run.seed, 13);
        let (mut best, mut best_loss, mut since_best) = (None::<Vec<Dense>>, f64::INFINITY, 0);
        let valid = valid.filter(|(vx, _)| vx.rows > 0);
        for epoch in 1..=params.epochs {
            order.shuffle(&mut shuffle);
            let (mut loss_sum, mut right) = (0.0f64, 0usize);
            for rows in order.chunks(params.batch_size) {
                let (loss, r) = trainer.step(&mut model, x, rows, &y_scaled, &mut dropout);
                loss_sum += loss;
                right += r;
            }
            model.epochs = epoch;
            let n = x.rows as f64;
            let mut figures = Vec::new();
            if classes.is_some() {
                figures.push(("loss".to_string(), loss_sum / n));
                figures.push(("accuracy".to_string(), right as f64 / n));
            } else {
                let scale = (model.target_scale.1 as f64).powi(2);
                figures.push(("loss".to_string(), loss_sum / n * scale));
            }
            let mut improved = true;
            if let Some((vx, vy)) = valid {
                let (vloss, vacc) = model.evaluate(vx, vy, run.threads);
                figures.push(("val_loss".to_string(), vloss));
                if let Some(acc) = vacc {
                    figures.push(("val_accuracy".to_string(), acc));
                }
                improved = vloss < best_loss;
                best_loss = best_loss.min(vloss);
            }
            if improved {
                model.best_epoch = epoch;
                since_best = 0;
                if params.early_stopping > 0 && valid.is_some() {
                    best = Some(model.layers.clone());
                }
            } else {
                since_best += 1;
            }
            run.report(Epoch {
                epoch,
                metrics: figures,
            })?;
            if params.early_stopping > 0 && since_best >= params.early_stopping {
                break;
            }
        }
        if let Some(layers) = best {
            model.layers = layers;
        }
        Ok(model)
    }

    /// A new network: Glorot-uniform weights drawn with `seed`, zero biases; a regressor
    /// standardises its target `y`.
    fn init(
        params: &MlpParams,
        inputs: usize,
        classes: Option<usize>,
        y: &[f32],
        seed: u64,
    ) -> Mlp {
        let target_scale = match classes {
            Some(_) => (0.0, 1.0),
            None => {
                let n = y.len() as f64;
                let mean = y.iter().map(|&v| v as f64).sum::<f64>() / n;
                let var = y.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
                (mean as f32, var.sqrt().max(1e-12) as f32)
            }
        };
        let mut widths = vec![inputs];
        widths.extend(&params.hidden);
        widths.push(classes.unwrap_or(1));
        let mut init = rng(seed, 11);
        let layers = widths
            .windows(2)
            .map(|io| {
                let limit = (6.0 / (io[0] + io[1]) as f32).sqrt();
                Dense {
                    w: Matrix {
                        rows: io[0],
                        cols: io[1],
                        data: (0..io[0] * io[1])
                            .map(|_| init.gen_range(-limit..limit))
                            .collect(),
                    },
                    b: vec![0.0; io[1]],
                }
            })
            .collect();
        Mlp {
            layers,
            activation: params.activation,
            negative_slope: params.negative_slope,
            classes,
            target_scale,
            epochs: 0,
            best_epoch: 0,
        }
    }
}

/// What training keeps between mini-batches: the buffers of a batch, the gradients, the
/// output-side deltas of each layer and Adam's moments.
struct Trainer {
    widths: Vec<usize>,
    batch: Batch,
    grads: Vec<(Vec<f32>, Vec<f32>)>,
    moments: Vec<(Moments, Moments)>,
    deltas: Vec<Vec<f32>>,
    targets: Vec<f32>,
    rates: Vec<f32>,
    lr: f32,
    l2: f32,
    t: i32,
    threads: usize,
}

impl Trainer {
    fn new(model: &Mlp, params: &MlpParams, rates: Vec<f32>, threads: usize) -> Trainer {
        let bs = params.batch_size;
        let widths = model.widths();
        Trainer {
            batch: model.buffers(bs),
            grads: model
                .layers
                .iter()
                .map(|l| (vec![0.0; l.w.data.len()], vec![0.0; l.b.len()]))
                .collect(),
            moments: model
                .layers
                .iter()
                .map(|l| (Moments::new(l.w.data.len()), Moments::new(l.b.len())))
                .collect(),
            deltas: widths[1..].iter().map(|w| vec![0.0; bs * w]).collect(),
            widths,
            targets: vec![0.0; bs],
            rates,
            lr: params.learning_rate as f32,
            l2: params.l2 as f32,
            t: 0,
            threads,
        }
    }

    /// One mini-batch of the rows `rows`: forward with dropout, the output gradient (mean
    /// over the batch), backward, an Adam step. Returns the batch's summed loss and, for a
    /// classifier, its rows predicted right.
    fn step(
        &mut self,
        model: &mut Mlp,
        x: &Matrix,
        rows: &[usize],
        y: &[f32],
        dropout: &mut crate::rng::Rand,
    ) -> (f64, usize) {
        let (m, d) = (rows.len(), x.cols);
        for (i, &r) in rows.iter().enumerate() {
            self.batch.a[0][i * d..(i + 1) * d].copy_from_slice(x.row(r));
            self.targets[i] = y[r];
        }
        model.forward(
            &mut self.batch,
            m,
            Some((&self.rates, dropout)),
            self.threads,
        );
        let last = model.layers.len() - 1;
        let outputs = self.widths[last + 1];
        let out = &mut self.deltas[last][..m * outputs];
        out.copy_from_slice(&self.batch.z[last][..m * outputs]);
        let (mut loss, mut right) = (0.0, 0);
        if model.classes.is_some() {
            for (r, row) in out.chunks_exact(outputs).enumerate() {
                let best = (0..outputs).fold(0, |b, j| if row[j] > row[b] { j } else { b });
                right += usize::from(best == self.targets[r] as usize);
            }
            loss = softmax_xent(out, &self.targets[..m], outputs);
        } else {
            for (o, &t) in out.iter_mut().zip(&self.targets[..m]) {
                loss += ((*o - t) as f64).powi(2);
                *o -= t;
            }
        }
        let scale = 1.0 / m as f32;
        out.iter_mut().for_each(|v| *v *= scale);
        self.backward(model, m);
        self.t += 1;
        for (layer, ((gw, gb), (mw, mb))) in model
            .layers
            .iter_mut()
            .zip(self.grads.iter().zip(&mut self.moments))
        {
            mw.step(&mut layer.w.data, gw, self.lr, self.t, self.l2);
            mb.step(&mut layer.b, gb, self.lr, self.t, 0.0);
        }
        (loss, right)
    }

    /// The gradients of every layer from the output deltas of a batch of `m` rows.
    fn backward(&mut self, model: &Mlp, m: usize) {
        let widths = &self.widths;
        for l in (0..model.layers.len()).rev() {
            let (inp, outw) = (widths[l], widths[l + 1]);
            let (gw, gb) = &mut self.grads[l];
            let delta = &self.deltas[l][..m * outw];
            let a_prev = &self.batch.a[l][..m * inp];
            product(
                gw,
                Layout::dense(inp, outw),
                a_prev,
                Layout::dense(m, inp).t(),
                delta,
                Layout::dense(m, outw),
                self.threads,
            );
            gb.iter_mut().for_each(|v| *v = 0.0);
            for row in delta.chunks_exact(outw) {
                for (g, v) in gb.iter_mut().zip(row) {
                    *g += v;
                }
            }
            if l > 0 {
                let (lower, upper) = self.deltas.split_at_mut(l);
                let prev = &mut lower[l - 1][..m * inp];
                product(
                    prev,
                    Layout::dense(m, inp),
                    &upper[0][..m * outw],
                    Layout::dense(m, outw),
                    &model.layers[l].w.data,
                    model.layers[l].w.layout().t(),
                    self.threads,
                );
                for (p, mk) in prev.iter_mut().zip(&self.batch.mask[l - 1][..m * inp]) {
                    *p *= mk;
                }
                activation_grad(
                    prev,
                    &self.batch.z[l - 1][..m * inp],
                    model.activation,
                    model.negative_slope,
                );
            }
        }
    }
}

/// Checks the settings; the dropout rate of each hidden layer.
fn check(params: &MlpParams) -> Result<Vec<f32>> {
    if params.hidden.contains(&0) {
        return Err(MlError::Config(
            "hidden: every layer needs at least one unit".into(),
        ));
    }
    if params.batch_size == 0 || params.epochs == 0 {
        return Err(MlError::Config(
            "batch_size and epochs must be at least 1".into(),
        ));
    }
    if !(params.learning_rate > 0.0 && params.learning_rate.is_finite()) {
        return Err(MlError::Config(format!(
            "learning_rate is {}: give a positive step (1e-3 is Adam's usual one)",
            params.learning_rate
        )));
    }
    let rates = match &params.dropout {
        Dropout::All(p) => vec![*p; params.hidden.len()],
        Dropout::PerLayer(v) if v.len() == params.hidden.len() => v.clone(),
        Dropout::PerLayer(v) => {
            return Err(MlError::Config(format!(
                "dropout has {} rates for {} hidden layers: give one rate, or one per layer",
                v.len(),
                params.hidden.len()
            )));
        }
    };
    if let Some(p) = rates.iter().find(|p| !(0.0..1.0).contains(*p)) {
        return Err(MlError::Config(format!("dropout {p} is not in [0, 1)")));
    }
    Ok(rates)
}
