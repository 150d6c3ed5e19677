//! A fitted regression tree on bins: its serialised form, checks and routing of a row.

use serde::{Deserialize, Serialize};

use super::split::{self, FeatInfo};

/// A fitted tree, struct-of-arrays. Node `i` sends a row to `left[i]` or `right[i]`; a child
/// `c >= 0` is a node (always after its parent), `c < 0` is the leaf `!c`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Tree {
    /// Feature of each node.
    pub(crate) feature: Vec<u32>,
    /// Numeric node: the last bin going left; categorical node: the index of its set in `sets`.
    pub(crate) split: Vec<u32>,
    /// Whether missing values go left.
    pub(crate) missing_left: Vec<bool>,
    /// Left child.
    pub(crate) left: Vec<i32>,
    /// Right child.
    pub(crate) right: Vec<i32>,
    /// Gain of each node's split.
    pub(crate) gain: Vec<f32>,
    /// Categories going left, as bitsets, of the categorical nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) sets: Vec<Vec<u64>>,
    /// Leaf values (learning rate applied).
    pub(crate) leaves: Vec<f32>,
}

impl Tree {
    /// The leaf a row reaches; `bin(j)` gives the row's bin of feature `j`. The tree must be
    /// valid for `feats` (see [`Tree::check`]).
    #[inline]
    pub(crate) fn leaf(&self, feats: &[FeatInfo], bin: impl Fn(usize) -> usize) -> usize {
        if self.feature.is_empty() {
            return 0;
        }
        let mut node = 0;
        loop {
            let j = self.feature[node] as usize;
            let b = bin(j);
            let info = feats[j];
            let left = if b >= info.missing {
                self.missing_left[node]
            } else if info.categorical {
                split::bit(&self.sets[self.split[node] as usize], b)
            } else {
                b <= self.split[node] as usize
            };
            let child = if left {
                self.left[node]
            } else {
                self.right[node]
            };
            if child < 0 {
                return !child as usize;
            }
            node = child as usize;
        }
    }

    /// Checks that the tree is well formed for `feats` (a deserialised model may not be).
    pub(crate) fn check(&self, feats: &[FeatInfo]) -> Result<(), String> {
        let n = self.feature.len();
        if [
            self.split.len(),
            self.missing_left.len(),
            self.left.len(),
            self.right.len(),
            self.gain.len(),
        ]
        .iter()
        .any(|&l| l != n)
        {
            return Err("node arrays of different lengths".into());
        }
        if self.leaves.len() != n + 1 {
            return Err(format!("{n} nodes but {} leaves", self.leaves.len()));
        }
        for i in 0..n {
            let Some(info) = feats.get(self.feature[i] as usize) else {
                return Err(format!(
                    "node {i} splits on unknown feature {}",
                    self.feature[i]
                ));
            };
            if info.categorical && self.split[i] as usize >= self.sets.len() {
                return Err(format!("node {i} has no category set"));
            }
            for c in [self.left[i], self.right[i]] {
                let ok = if c < 0 {
                    (!c as usize) < self.leaves.len()
                } else {
                    c as usize > i && (c as usize) < n
                };
                if !ok {
                    return Err(format!("node {i} has a bad child {c}"));
                }
            }
        }
        Ok(())
    }
}
