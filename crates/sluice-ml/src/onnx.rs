//! Export of logistic-regression and MLP models to ONNX (opset 20), for runtimes that read it
//! (onnxruntime, ONNX-based servers): the standardisation (`Sub`, `Mul`), the dense layers
//! (`Gemm`), their activations (`Relu`, `LeakyRelu`, `Gelu`) and the output (`Softmax` for
//! classes). The input `input` is `[N, features]` float: the model's columns in order, a
//! vector column expanded, without missing values (sluice imputes them; the exported graph
//! does not); the outputs are `probas` (classes) or `prediction` (values).
//! Written with a small protobuf encoder of our own: the ONNX messages used here are a handful
//! of fields.

use crate::features::FeatureKind;
use crate::linear::Logistic;
use crate::mlp::{Activation, Mlp};
use crate::{Fitted, Matrix, MlError, Model, Result};

/// Protobuf wire encoding: varints, tags, length-delimited fields.
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn tag(&mut self, field: u32, wire: u32) {
        self.varint(u64::from(field << 3 | wire));
    }

    fn int(&mut self, field: u32, v: i64) -> &mut Self {
        self.tag(field, 0);
        self.varint(v as u64);
        self
    }

    fn bytes(&mut self, field: u32, b: &[u8]) -> &mut Self {
        self.tag(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }

    fn str(&mut self, field: u32, s: &str) -> &mut Self {
        self.bytes(field, s.as_bytes())
    }

    fn msg(&mut self, field: u32, m: &Msg) -> &mut Self {
        self.bytes(field, &m.0)
    }

    fn float(&mut self, field: u32, v: f32) -> &mut Self {
        self.tag(field, 5);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
}

/// ONNX's FLOAT element type.
const FLOAT: i64 = 1;

/// A float tensor initializer (`TensorProto`).
fn tensor(name: &str, dims: &[usize], values: &[f32]) -> Msg {
    let mut t = Msg::default();
    for &d in dims {
        t.int(1, d as i64);
    }
    t.int(2, FLOAT).str(8, name);
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    t.bytes(9, &raw);
    t
}

/// A float `[N, width]` value (`ValueInfoProto`), N symbolic.
fn value_info(name: &str, width: usize) -> Msg {
    let mut batch = Msg::default();
    batch.str(2, "N");
    let mut cols = Msg::default();
    cols.int(1, width as i64);
    let mut shape = Msg::default();
    shape.msg(1, &batch).msg(1, &cols);
    let mut tensor_type = Msg::default();
    tensor_type.int(1, FLOAT).msg(2, &shape);
    let mut ty = Msg::default();
    ty.msg(1, &tensor_type);
    let mut v = Msg::default();
    v.str(1, name).msg(2, &ty);
    v
}

/// A node (`NodeProto`) with float or int attributes.
fn node(op: &str, inputs: &[&str], output: &str, attrs: &[(&str, Attr)]) -> Msg {
    let mut n = Msg::default();
    for i in inputs {
        n.str(1, i);
    }
    n.str(2, output).str(3, output).str(4, op);
    for (name, value) in attrs {
        let mut a = Msg::default();
        a.str(1, name);
        match value {
            Attr::Float(f) => {
                a.float(2, *f).int(20, 1);
            }
            Attr::Int(i) => {
                a.int(3, *i).int(20, 2);
            }
            Attr::Str(s) => {
                a.bytes(4, s.as_bytes()).int(20, 3);
            }
        }
        n.msg(5, &a);
    }
    n
}

/// An attribute value.
enum Attr {
    Float(f32),
    Int(i64),
    Str(&'static str),
}

/// The graph being written: nodes and initializers, each value named after its step.
#[derive(Default)]
struct Graph {
    nodes: Vec<Msg>,
    initializers: Vec<Msg>,
    last: String,
}

impl Graph {
    fn init(&mut self, name: &str, dims: &[usize], values: &[f32]) {
        self.initializers.push(tensor(name, dims, values));
    }

    fn op(&mut self, op: &str, extra: &[&str], out: &str, attrs: &[(&str, Attr)]) {
        let mut inputs = vec![self.last.as_str()];
        inputs.extend_from_slice(extra);
        self.nodes.push(node(op, &inputs, out, attrs));
        self.last = out.to_string();
    }

    fn dense(&mut self, i: usize, w: &Matrix, b: &[f32]) {
        let (wn, bn) = (format!("w{i}"), format!("b{i}"));
        self.init(&wn, &[w.rows, w.cols], &w.data);
        self.init(&bn, &[b.len()], b);
        self.op("Gemm", &[&wn, &bn], &format!("dense{i}"), &[]);
    }
}

impl Model {
    /// The model as an ONNX file's bytes. Only logistic regression and MLPs on numeric and
    /// vector columns export; anything else is an error saying so.
    pub fn to_onnx(&self) -> Result<Vec<u8>> {
        if let Some(c) = self
            .features
            .columns
            .iter()
            .find(|c| matches!(c.kind, FeatureKind::Categorical { .. }))
        {
            return Err(MlError::Config(format!(
                "column `{}` holds categories: ONNX export takes models on numbers and vectors only",
                c.name
            )));
        }
        let pre = self
            .preprocess
            .as_ref()
            .ok_or_else(|| MlError::Config("this model has no preprocessing to export".into()))?;
        let width = pre.width();
        let mut g = Graph {
            last: "input".into(),
            ..Graph::default()
        };
        g.init("mean", &[width], &pre.mean);
        g.init("inv_std", &[width], &pre.inv_std);
        g.op("Sub", &["mean"], "centred", &[]);
        g.op("Mul", &["inv_std"], "scaled", &[]);
        let classes = match &self.fitted {
            Fitted::Logistic(Logistic { w, b, .. }) => {
                g.dense(0, w, b);
                true
            }
            Fitted::Mlp(m) => {
                mlp_layers(&mut g, m);
                m.classes.is_some()
            }
            _ => {
                return Err(MlError::Config(format!(
                    "a {} model does not export to ONNX (logistic and mlp do)",
                    self.spec.kind()
                )));
            }
        };
        let output = if classes { "probas" } else { "prediction" };
        let out_width = match &self.fitted {
            Fitted::Logistic(l) => l.w.cols,
            Fitted::Mlp(m) => m.layers.last().map_or(1, |l| l.w.cols),
            _ => 1,
        };
        if classes {
            g.op("Softmax", &[], output, &[("axis", Attr::Int(1))]);
        } else if let Fitted::Mlp(m) = &self.fitted {
            let (mean, std) = m.target_scale;
            g.init("target_std", &[1], &[std]);
            g.init("target_mean", &[1], &[mean]);
            g.op("Mul", &["target_std"], "unscaled", &[]);
            g.op("Add", &["target_mean"], output, &[]);
        }
        let mut graph = Msg::default();
        for n in &g.nodes {
            graph.msg(1, n);
        }
        graph.str(2, "sluice");
        for t in &g.initializers {
            graph.msg(5, t);
        }
        graph.msg(11, &value_info("input", width));
        graph.msg(12, &value_info(output, out_width));
        let mut opset = Msg::default();
        opset.str(1, "").int(2, 20);
        let mut model = Msg::default();
        model
            .int(1, 9)
            .str(2, "sluice")
            .str(3, env!("CARGO_PKG_VERSION"))
            .msg(7, &graph)
            .msg(8, &opset);
        Ok(model.0)
    }
}

fn mlp_layers(g: &mut Graph, m: &Mlp) {
    let last = m.layers.len() - 1;
    for (i, layer) in m.layers.iter().enumerate() {
        g.dense(i, &layer.w, &layer.b);
        if i < last {
            let out = format!("act{i}");
            match m.activation {
                Activation::Relu => g.op("Relu", &[], &out, &[]),
                Activation::LeakyRelu => g.op(
                    "LeakyRelu",
                    &[],
                    &out,
                    &[("alpha", Attr::Float(m.negative_slope))],
                ),
                Activation::Gelu => g.op("Gelu", &[], &out, &[("approximate", Attr::Str("none"))]),
            }
        }
    }
}
