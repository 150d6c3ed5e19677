//! The embedded vector index, for datasets served without a PostgreSQL server: exact search
//! below a size threshold, an HNSW graph (Malkov & Yashunin) above it, filters as a set of
//! allowed rows, saved to one file beside the dataset's Parquet files.
//!
//! Vectors are kept in the index (normalised for cosine), so a search reads no Parquet.
//! Nodes are numbered like the dataset's rows (files in order, rows in order).

use std::collections::BinaryHeap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

pub use crate::postgres::load::Metric;
use crate::{Error, Result};

/// Below this many vectors a search compares the query with every vector (exact and fast
/// enough); at or above it an HNSW graph is built.
pub const EXACT_BELOW: usize = 20_000;

/// How the graph is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Links per node above layer 0 (twice as many on layer 0).
    pub m: usize,
    /// Candidates while building.
    pub ef_construction: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            m: 16,
            ef_construction: 100,
        }
    }
}

/// A scored row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The row (node) number.
    pub row: u32,
    /// Distance: `1 - cosine`, squared Euclidean, or negative inner product (smaller is
    /// nearer).
    pub distance: f32,
}

/// Ordered by distance, for heaps.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Near(f32, u32);
impl Eq for Near {}
impl PartialOrd for Near {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Near {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

const NONE: u32 = u32::MAX;
const MAGIC: &[u8; 8] = b"SLCHNSW1";

/// Dot product, in 8 lanes the compiler vectorises.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

fn l2(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += (x - y) * (x - y);
    }
    sum
}

/// Whether a filtered search over a graph of `rows` rows (`m` links per node) is better
/// made exactly over the `allowed` rows than by a graph walk with `ef` candidates.
///
/// The walk passes about `rows / allowed` nodes for each allowed candidate it keeps and
/// computes up to `2 m` distances at each: about `ef · 2m · rows / allowed` distances, read
/// in random order, against `allowed` read in order for the exact search. Exact therefore
/// wins when `allowed² ≤ ef · 2m · rows` (at 30,000 rows, ef 128: below about 11,000 rows
/// allowed); and always below 1 row in 20, where the walk also loses its way (recall falls).
pub fn filtered_exact(allowed: usize, rows: usize, ef: usize, m: usize) -> bool {
    let walk = (ef as u128) * (2 * m as u128) * (rows as u128);
    allowed * 20 < rows || (allowed as u128) * (allowed as u128) <= walk
}

/// The vectors of a dataset and, above [`EXACT_BELOW`], their HNSW graph.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorIndex {
    dim: usize,
    metric: Metric,
    params: Params,
    vectors: Vec<f32>,
    /// Rows without a vector (null): never returned.
    missing: Vec<bool>,
    graph: Option<Graph>,
}

#[derive(Debug, Clone, PartialEq)]
struct Graph {
    levels: Vec<u8>,
    /// `2m` neighbours per node on layer 0, `NONE`-padded.
    layer0: Vec<u32>,
    /// For nodes above layer 0: `m` neighbours per level 1..=level, in node order.
    upper: Vec<Vec<u32>>,
    entry: u32,
}

/// A reusable "visited" marker: a generation number per node.
struct Visited {
    marks: Vec<u32>,
    generation: u32,
}

impl Visited {
    fn new(n: usize) -> Self {
        Visited {
            marks: vec![0; n],
            generation: 0,
        }
    }
    fn clear(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.generation = 1;
        }
    }
    /// Marks `i`; false when it was already marked.
    fn insert(&mut self, i: u32) -> bool {
        let m = &mut self.marks[i as usize];
        if *m == self.generation {
            false
        } else {
            *m = self.generation;
            true
        }
    }
}

/// The seed of the levels' generator: the same data gives the same graph.
const LEVELS_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// Each node's level, drawn with probability `m^-level` by a small deterministic generator.
struct Levels {
    state: u64,
    ml: f64,
}

impl Levels {
    fn new(m: usize, seed: u64) -> Levels {
        Levels {
            state: seed | 1,
            ml: 1.0 / (m as f64).ln(),
        }
    }

    fn next(&mut self) -> u8 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let uniform = (self.state >> 11) as f64 / (1u64 << 53) as f64;
        ((-(uniform.max(1e-12)).ln() * self.ml).floor() as usize).min(16) as u8
    }
}

impl Graph {
    /// A graph of nodes at `levels`, without links.
    fn empty(levels: Vec<u8>, m: usize) -> Graph {
        Graph {
            layer0: vec![NONE; levels.len() * 2 * m],
            upper: levels.iter().map(|&l| vec![NONE; l as usize * m]).collect(),
            levels,
            entry: NONE,
        }
    }
}

/// The hash under which [`VectorIndex::update`] finds a vector of the previous index.
fn vector_hash(v: &[f32]) -> u64 {
    use std::hash::Hasher;
    let mut h = twox_hash::XxHash64::with_seed(0);
    for x in v {
        h.write_u32(x.to_bits());
    }
    h.finish()
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// How [`VectorIndex::update`] made the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphBuild {
    /// No graph: fewer than [`EXACT_BELOW`] rows, searched exactly.
    None,
    /// The previous graph, updated with the delta.
    Updated,
    /// Built whole, for the reason given.
    Whole(&'static str),
}

/// What [`VectorIndex::update`] reused of the previous index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Update {
    /// Vectors that were in the previous index (their nodes kept their links).
    pub kept: usize,
    /// New vectors (inserted into the graph).
    pub inserted: usize,
    /// Vectors of the previous index that no row has any more (taken out).
    pub removed: usize,
    /// How the graph was made.
    pub graph: GraphBuild,
}

impl VectorIndex {
    /// Builds the index of `vectors` (`None`: a row without a vector), each of `dim` floats.
    pub fn build(
        dim: usize,
        metric: Metric,
        params: Params,
        vectors: impl IntoIterator<Item = Option<Vec<f32>>>,
    ) -> Result<VectorIndex> {
        let mut index = VectorIndex::with_vectors(dim, metric, params, vectors)?;
        if index.len() >= EXACT_BELOW {
            index.build_graph();
        }
        Ok(index)
    }

    /// The vectors, checked and normalised for the metric, without a graph.
    fn with_vectors(
        dim: usize,
        metric: Metric,
        params: Params,
        vectors: impl IntoIterator<Item = Option<Vec<f32>>>,
    ) -> Result<VectorIndex> {
        if dim == 0 {
            return Err(Error::new("vectors of dimension 0 cannot be indexed"));
        }
        let mut index = VectorIndex {
            dim,
            metric,
            params,
            vectors: Vec::new(),
            missing: Vec::new(),
            graph: None,
        };
        for (row, v) in vectors.into_iter().enumerate() {
            match v {
                Some(mut v) => {
                    if v.len() != dim {
                        return Err(Error::new(format!(
                            "row {}: a vector of {} dimensions among vectors of {dim}",
                            row + 1,
                            v.len()
                        )));
                    }
                    if metric == Metric::Cosine {
                        let norm = dot(&v, &v).sqrt();
                        if norm > 0.0 {
                            v.iter_mut().for_each(|x| *x /= norm);
                        }
                    }
                    index.vectors.extend_from_slice(&v);
                    index.missing.push(false);
                }
                None => {
                    index.vectors.extend(std::iter::repeat_n(0.0, dim));
                    index.missing.push(true);
                }
            }
        }
        Ok(index)
    }

    /// Rows in the index.
    pub fn len(&self) -> usize {
        self.missing.len()
    }

    /// Rows that have a vector.
    pub fn vector_count(&self) -> usize {
        self.missing.iter().filter(|m| !**m).count()
    }

    /// Whether it holds no row.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty()
    }

    /// The vector length.
    pub fn dimension(&self) -> usize {
        self.dim
    }

    /// Whether searches go through the HNSW graph.
    pub fn has_graph(&self) -> bool {
        self.graph.is_some()
    }

    fn vector(&self, i: u32) -> &[f32] {
        let start = i as usize * self.dim;
        &self.vectors[start..start + self.dim]
    }

    fn distance_to(&self, query: &[f32], i: u32) -> f32 {
        let v = self.vector(i);
        match self.metric {
            Metric::Cosine => 1.0 - dot(query, v),
            Metric::Ip => -dot(query, v),
            Metric::L2 => l2(query, v),
        }
    }

    fn prepare(&self, query: &[f32]) -> Result<Vec<f32>> {
        if query.len() != self.dim {
            return Err(Error::new(format!(
                "the query vector has {} dimensions, the index {}: embed the query with the \
                 dataset's model",
                query.len(),
                self.dim
            )));
        }
        let mut q = query.to_vec();
        if self.metric == Metric::Cosine {
            let norm = dot(&q, &q).sqrt();
            if norm > 0.0 {
                q.iter_mut().for_each(|x| *x /= norm);
            }
        }
        Ok(q)
    }

    fn neighbours<'g>(&self, graph: &'g Graph, i: u32, level: usize) -> &'g [u32] {
        let m0 = 2 * self.params.m;
        let list = if level == 0 {
            &graph.layer0[i as usize * m0..(i as usize + 1) * m0]
        } else {
            let m = self.params.m;
            &graph.upper[i as usize][(level - 1) * m..level * m]
        };
        let end = list.iter().position(|&n| n == NONE).unwrap_or(list.len());
        &list[..end]
    }

    /// The `ef` nearest of layer `level` from `entry`, nearest first. Only rows that `allow`
    /// accepts are results; every node is walked through.
    fn search_layer(
        &self,
        graph: &Graph,
        query: &[f32],
        entry: &[u32],
        (ef, level): (usize, usize),
        visited: &mut Visited,
        allow: &dyn Fn(u32) -> bool,
    ) -> Vec<Near> {
        visited.clear();
        let mut candidates: BinaryHeap<std::cmp::Reverse<Near>> = BinaryHeap::new();
        let mut results: BinaryHeap<Near> = BinaryHeap::new();
        for &e in entry {
            if visited.insert(e) {
                let d = self.distance_to(query, e);
                candidates.push(std::cmp::Reverse(Near(d, e)));
                if allow(e) {
                    results.push(Near(d, e));
                }
            }
        }
        while let Some(std::cmp::Reverse(Near(d, c))) = candidates.pop() {
            if results.len() >= ef && results.peek().is_some_and(|w| d > w.0) {
                break;
            }
            for &n in self.neighbours(graph, c, level) {
                if !visited.insert(n) {
                    continue;
                }
                let dn = self.distance_to(query, n);
                let worst = results.peek().map_or(f32::INFINITY, |w| w.0);
                if results.len() < ef || dn < worst {
                    candidates.push(std::cmp::Reverse(Near(dn, n)));
                    if allow(n) {
                        results.push(Near(dn, n));
                        if results.len() > ef {
                            results.pop();
                        }
                    }
                }
            }
        }
        let mut out = results.into_vec();
        out.sort();
        out
    }

    /// Malkov's heuristic: keep a candidate only if it is nearer to the node than to every
    /// neighbour kept so far (links spread in every direction).
    fn select(&self, candidates: &[Near], m: usize) -> Vec<u32> {
        let mut kept: Vec<u32> = Vec::with_capacity(m);
        for &Near(d, c) in candidates {
            if kept.len() >= m {
                break;
            }
            let cv = self.vector(c);
            if kept.iter().all(|&k| self.distance_to(cv, k) > d) {
                kept.push(c);
            }
        }
        kept
    }

    fn set_neighbours(&self, graph: &mut Graph, i: u32, level: usize, list: &[u32]) {
        let (slot, width) = if level == 0 {
            let m0 = 2 * self.params.m;
            (
                &mut graph.layer0[i as usize * m0..(i as usize + 1) * m0],
                m0,
            )
        } else {
            let m = self.params.m;
            (&mut graph.upper[i as usize][(level - 1) * m..level * m], m)
        };
        for (k, s) in slot.iter_mut().enumerate() {
            *s = if k < list.len().min(width) {
                list[k]
            } else {
                NONE
            };
        }
    }

    fn build_graph(&mut self) {
        let n = self.len();
        let mut levels = Levels::new(self.params.m, LEVELS_SEED);
        let mut graph = Graph::empty((0..n).map(|_| levels.next()).collect(), self.params.m);
        let mut visited = Visited::new(n);
        for i in 0..n as u32 {
            if !self.missing[i as usize] {
                self.insert_node(&mut graph, i, &mut visited);
            }
        }
        self.graph = Some(graph);
    }

    /// Links node `i` (its level already drawn) into `graph`: its neighbours found from the
    /// entry point down, and `i` added to theirs.
    fn insert_node(&self, graph: &mut Graph, i: u32, visited: &mut Visited) {
        let m = self.params.m;
        let all = |_: u32| true;
        let level = graph.levels[i as usize] as usize;
        if graph.entry == NONE {
            graph.entry = i;
            return;
        }
        let top = graph.levels[graph.entry as usize] as usize;
        let q = self.vector(i);
        let mut entry = vec![graph.entry];
        for l in (level + 1..=top).rev() {
            let near = self.search_layer(graph, q, &entry, (1, l), visited, &all);
            entry = vec![near[0].1];
        }
        for l in (0..=level.min(top)).rev() {
            let near = self.search_layer(
                graph,
                q,
                &entry,
                (self.params.ef_construction, l),
                visited,
                &all,
            );
            let width = if l == 0 { 2 * m } else { m };
            let chosen = self.select(&near, width);
            self.set_neighbours(graph, i, l, &chosen);
            for &c in &chosen {
                let mut theirs: Vec<u32> = self.neighbours(graph, c, l).to_vec();
                theirs.push(i);
                if theirs.len() <= width {
                    self.set_neighbours(graph, c, l, &theirs);
                } else {
                    let kept = self.select_nearest(c, &theirs, width);
                    self.set_neighbours(graph, c, l, &kept);
                }
            }
            entry = near.iter().map(|n| n.1).collect();
        }
        if level > top {
            graph.entry = i;
        }
    }

    /// At most `width` of `candidates` as links of node `c`, by [`VectorIndex::select`].
    fn select_nearest(&self, c: u32, candidates: &[u32], width: usize) -> Vec<u32> {
        let cv = self.vector(c);
        let mut scored: Vec<Near> = candidates
            .iter()
            .map(|&t| Near(self.distance_to(cv, t), t))
            .collect();
        scored.sort();
        self.select(&scored, width)
    }

    /// The index of `vectors` (as for [`VectorIndex::build`]), reusing `previous`, the index
    /// of an earlier version of the same dataset: a row whose vector is in `previous` (the
    /// same bits) keeps its node's level and links, the links to vectors no row has any more
    /// are dropped and the nodes that lost some are linked again through the dropped nodes'
    /// own neighbours, and only the new vectors are inserted. The graph is built whole when
    /// `previous` has none or was built with other settings, or when fewer than half the
    /// vectors were kept.
    pub fn update(
        previous: &VectorIndex,
        dim: usize,
        metric: Metric,
        params: Params,
        vectors: impl IntoIterator<Item = Option<Vec<f32>>>,
    ) -> Result<(VectorIndex, Update)> {
        let mut index = VectorIndex::with_vectors(dim, metric, params, vectors)?;
        let n = index.len();
        let same_settings =
            previous.dim == dim && previous.metric == metric && previous.params == params;
        // Rows matched with the previous index's nodes by their vectors' bits.
        let mut old_to_new = vec![NONE; previous.len()];
        let mut new_to_old = vec![NONE; n];
        if same_settings {
            let mut by_hash: std::collections::HashMap<u64, Vec<u32>> =
                std::collections::HashMap::new();
            for o in (0..previous.len() as u32).rev() {
                if !previous.missing[o as usize] {
                    by_hash
                        .entry(vector_hash(previous.vector(o)))
                        .or_default()
                        .push(o);
                }
            }
            for i in 0..n as u32 {
                if index.missing[i as usize] {
                    continue;
                }
                let v = index.vector(i);
                let Some(nodes) = by_hash.get_mut(&vector_hash(v)) else {
                    continue;
                };
                if let Some(at) = nodes
                    .iter()
                    .rposition(|&o| same_bits(previous.vector(o), v))
                {
                    let o = nodes.remove(at);
                    old_to_new[o as usize] = i;
                    new_to_old[i as usize] = o;
                }
            }
        }
        let (vectors_now, vectors_before) = (index.vector_count(), previous.vector_count());
        let kept = new_to_old.iter().filter(|o| **o != NONE).count();
        let mut update = Update {
            kept,
            inserted: vectors_now - kept,
            removed: vectors_before - kept,
            graph: GraphBuild::None,
        };
        if n < EXACT_BELOW {
            return Ok((index, update));
        }
        let whole = match &previous.graph {
            _ if !same_settings => Some("the previous index was built with other settings"),
            None => Some("the previous index had no graph"),
            Some(_) if kept == 0 || kept * 2 < vectors_now => {
                Some("fewer than half the vectors were in the previous index")
            }
            Some(_) => None,
        };
        let Some(old) = previous.graph.as_ref().filter(|_| whole.is_none()) else {
            index.build_graph();
            update.graph = GraphBuild::Whole(whole.unwrap_or_default());
            return Ok((index, update));
        };

        let m = params.m;
        let mut draw = Levels::new(m, LEVELS_SEED ^ n as u64);
        let levels = new_to_old
            .iter()
            .map(|&o| {
                if o == NONE {
                    draw.next()
                } else {
                    old.levels[o as usize]
                }
            })
            .collect();
        let mut graph = Graph::empty(levels, m);
        for (i, &o) in new_to_old.iter().enumerate() {
            if o == NONE {
                continue;
            }
            let i = i as u32;
            for l in 0..=old.levels[o as usize] as usize {
                let before = previous.neighbours(old, o, l);
                let mut links: Vec<u32> = before
                    .iter()
                    .map(|&t| old_to_new[t as usize])
                    .filter(|&t| t != NONE)
                    .collect();
                if links.len() < before.len() {
                    // Lost links: the candidates are the links left and the links of the
                    // nodes that are gone (their neighbourhood is where the lost paths went).
                    for &gone in before.iter().filter(|&&t| old_to_new[t as usize] == NONE) {
                        for &t in previous.neighbours(old, gone, l) {
                            let t = old_to_new[t as usize];
                            if t != NONE && t != i && !links.contains(&t) {
                                links.push(t);
                            }
                        }
                    }
                    let width = if l == 0 { 2 * m } else { m };
                    links = index.select_nearest(i, &links, width);
                }
                index.set_neighbours(&mut graph, i, l, &links);
            }
        }
        graph.entry = match old_to_new.get(old.entry as usize) {
            Some(&e) if e != NONE => e,
            // The highest of the kept nodes.
            _ => (0..n as u32)
                .filter(|&i| new_to_old[i as usize] != NONE)
                .max_by_key(|&i| (graph.levels[i as usize], std::cmp::Reverse(i)))
                .unwrap_or(NONE),
        };
        let mut visited = Visited::new(n);
        for i in 0..n as u32 {
            if new_to_old[i as usize] == NONE && !index.missing[i as usize] {
                index.insert_node(&mut graph, i, &mut visited);
            }
        }
        index.graph = Some(graph);
        update.graph = GraphBuild::Updated;
        Ok((index, update))
    }

    /// The `k` nearest rows by comparing `query` with every vector (what the graph's
    /// recall is measured against).
    pub fn exact(&self, query: &[f32], k: usize) -> Result<Vec<Hit>> {
        let q = self.prepare(query)?;
        let ok = |i: u32| !self.missing[i as usize];
        Ok(self
            .exact_nearest(&q, k, &ok)
            .into_iter()
            .map(|Near(distance, row)| Hit { row, distance })
            .collect())
    }

    fn exact_nearest(&self, q: &[f32], k: usize, ok: &dyn Fn(u32) -> bool) -> Vec<Near> {
        let mut heap: BinaryHeap<Near> = BinaryHeap::new();
        for i in 0..self.len() as u32 {
            if !ok(i) {
                continue;
            }
            let d = self.distance_to(q, i);
            if heap.len() < k {
                heap.push(Near(d, i));
            } else if heap.peek().is_some_and(|w| d < w.0) {
                heap.pop();
                heap.push(Near(d, i));
            }
        }
        let mut v = heap.into_vec();
        v.sort();
        v
    }

    /// The `k` nearest rows to `query` that `allow` accepts (every row when `None`),
    /// nearest first. `ef` (at least `k`) trades speed for recall in the graph.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        allow: Option<&[bool]>,
    ) -> Result<Vec<Hit>> {
        let q = self.prepare(query)?;
        let ok = |i: u32| {
            !self.missing[i as usize] && allow.is_none_or(|a| a.get(i as usize) == Some(&true))
        };
        // Exact when small, or when a filter leaves few rows ([`filtered_exact`]). Rows are
        // counted only for a filter over a graph: no scan of every row on the plain path.
        let exact = match (&self.graph, allow) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(_), Some(a)) => {
                let allowed = a
                    .iter()
                    .zip(&self.missing)
                    .filter(|(a, m)| **a && !**m)
                    .count();
                filtered_exact(allowed, self.len(), ef.max(k), self.params.m)
            }
        };
        let hits: Vec<Near> = if exact {
            self.exact_nearest(&q, k, &ok)
        } else {
            let Some(graph) = &self.graph else {
                return Ok(Vec::new());
            };
            if graph.entry == NONE {
                return Ok(Vec::new());
            }
            let mut visited = Visited::new(self.len());
            let all = |_: u32| true;
            let top = graph.levels[graph.entry as usize] as usize;
            let mut entry = vec![graph.entry];
            for l in (1..=top).rev() {
                let near = self.search_layer(graph, &q, &entry, (1, l), &mut visited, &all);
                entry = vec![near[0].1];
            }
            let mut near = self.search_layer(graph, &q, &entry, (ef.max(k), 0), &mut visited, &ok);
            near.truncate(k);
            near
        };
        Ok(hits
            .into_iter()
            .map(|Near(distance, row)| Hit { row, distance })
            .collect())
    }

    /// Writes the index to `path` (under a temporary name, then renamed).
    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |e: std::io::Error| Error::new(format!("{}: {e}", path.display()));
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let file = std::fs::File::create(&tmp).map_err(io)?;
        let mut w = BufWriter::new(file);
        let mut put = |bytes: &[u8]| w.write_all(bytes).map_err(io);
        put(MAGIC)?;
        let metric = match self.metric {
            Metric::Cosine => 0u64,
            Metric::L2 => 1,
            Metric::Ip => 2,
        };
        for v in [
            self.dim as u64,
            metric,
            self.params.m as u64,
            self.params.ef_construction as u64,
            self.len() as u64,
            u64::from(self.graph.is_some()),
        ] {
            put(&v.to_le_bytes())?;
        }
        for v in &self.vectors {
            put(&v.to_le_bytes())?;
        }
        put(&self.missing.iter().map(|&m| m as u8).collect::<Vec<_>>())?;
        if let Some(g) = &self.graph {
            put(&g.entry.to_le_bytes())?;
            put(&g.levels)?;
            for v in &g.layer0 {
                put(&v.to_le_bytes())?;
            }
            for list in &g.upper {
                for v in list {
                    put(&v.to_le_bytes())?;
                }
            }
        }
        let file = w.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok(())
    }

    /// Reads an index written by [`VectorIndex::save`].
    pub fn load(path: &Path) -> Result<VectorIndex> {
        let bad = |what: &str| {
            Error::new(format!(
                "{}: not a sluice vector index ({what}); delete it to rebuild it",
                path.display()
            ))
        };
        let file = std::fs::File::open(path)
            .map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
        let mut r = BufReader::new(file);
        let mut take = |n: usize| -> Result<Vec<u8>> {
            let mut buf = vec![0u8; n];
            r.read_exact(&mut buf).map_err(|_| bad("truncated"))?;
            Ok(buf)
        };
        if take(8)? != MAGIC {
            return Err(bad("wrong header"));
        }
        let mut header = [0u64; 6];
        for h in &mut header {
            *h = u64::from_le_bytes(take(8)?.try_into().map_err(|_| bad("header"))?);
        }
        let [dim, metric, m, ef, n, has_graph] = header.map(|v| v as usize);
        if dim == 0 || m < 2 || n > (1 << 31) || dim > 1 << 16 {
            return Err(bad("impossible sizes"));
        }
        let floats = |bytes: Vec<u8>| -> Vec<f32> {
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let ints = |bytes: Vec<u8>| -> Vec<u32> {
            bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let vectors = floats(take(n * dim * 4)?);
        let missing = take(n)?.into_iter().map(|b| b != 0).collect();
        let metric = match metric {
            0 => Metric::Cosine,
            1 => Metric::L2,
            2 => Metric::Ip,
            _ => return Err(bad("unknown metric")),
        };
        let graph = if has_graph == 1 {
            let entry = u32::from_le_bytes(take(4)?.try_into().map_err(|_| bad("entry"))?);
            let levels = take(n)?;
            let layer0 = ints(take(n * 2 * m * 4)?);
            let mut upper = Vec::with_capacity(n);
            for &l in &levels {
                upper.push(ints(take(l as usize * m * 4)?));
            }
            let check = |v: &u32| *v == NONE || (*v as usize) < n;
            if !(layer0.iter().all(check) && upper.iter().flatten().all(check))
                || (n > 0 && entry as usize >= n)
            {
                return Err(bad("links out of range"));
            }
            Some(Graph {
                levels,
                layer0,
                upper,
                entry,
            })
        } else {
            None
        };
        Ok(VectorIndex {
            dim,
            metric,
            params: Params {
                m,
                ef_construction: ef,
            },
            vectors,
            missing,
            graph,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        (0..n).map(|_| (0..dim).map(|_| next()).collect()).collect()
    }

    #[test]
    fn a_filter_keeping_few_rows_is_searched_exactly() {
        // bench/search's 30,000 MiniLM vectors: a theme with 8 % of the rows is searched
        // exactly at every ef (the walk was 5-30x slower than the exact search there).
        for ef in [16, 32, 64, 128, 256] {
            assert!(filtered_exact(2_481, 30_000, ef, 16), "ef {ef}");
        }
        // Below 1 row in 20, always.
        assert!(filtered_exact(4_999, 1_000_000, 16, 16));
        // Half the rows of the test below: the graph.
        assert!(!filtered_exact(11_000, 22_000, 64, 16));
        // 10 % of a million rows: the graph up to ef 256, exact from ef 512
        // (100,000² = 1e10 against 8.2e9 and 1.6e10 distances).
        assert!(!filtered_exact(100_000, 1_000_000, 256, 16));
        assert!(filtered_exact(100_000, 1_000_000, 512, 16));
    }

    #[test]
    fn hnsw_recall_against_exact_search_and_filters() {
        let (n, dim) = (EXACT_BELOW + 2_000, 32);
        let data = random_vectors(n, dim, 7);
        let index = VectorIndex::build(
            dim,
            Metric::Cosine,
            Params::default(),
            data.iter().cloned().map(Some),
        )
        .expect("build");
        assert!(index.has_graph());
        let exact = VectorIndex {
            graph: None,
            ..index.clone()
        };
        let queries = random_vectors(50, dim, 99);
        let mut found = 0;
        for q in &queries {
            let want: Vec<u32> = exact
                .search(q, 10, 10, None)
                .expect("exact")
                .iter()
                .map(|h| h.row)
                .collect();
            let got: Vec<u32> = index
                .search(q, 10, 64, None)
                .expect("hnsw")
                .iter()
                .map(|h| h.row)
                .collect();
            found += got.iter().filter(|r| want.contains(r)).count();
        }
        let recall = found as f64 / (queries.len() * 10) as f64;
        eprintln!("recall@10 {recall}");
        assert!(recall >= 0.95, "recall@10 {recall}");

        // Half the rows allowed: only allowed rows come back, still nearly all of the best.
        let allow: Vec<bool> = (0..n).map(|i| i % 2 == 0).collect();
        let mut found = 0;
        for q in &queries {
            let want: Vec<u32> = exact
                .search(q, 10, 10, Some(&allow))
                .expect("exact")
                .iter()
                .map(|h| h.row)
                .collect();
            let got = index.search(q, 10, 64, Some(&allow)).expect("hnsw");
            assert!(got.iter().all(|h| h.row % 2 == 0));
            found += got.iter().filter(|h| want.contains(&h.row)).count();
        }
        let recall = found as f64 / (queries.len() * 10) as f64;
        eprintln!("filtered recall@10 {recall}");
        assert!(recall >= 0.95, "filtered recall@10 {recall}");

        // Saved and loaded, the same index.
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("embedding.hnsw");
        index.save(&path).expect("save");
        assert_eq!(VectorIndex::load(&path).expect("load"), index);
        std::fs::write(&path, b"garbage").expect("write");
        assert!(
            VectorIndex::load(&path)
                .expect_err("garbage")
                .0
                .contains("not a sluice vector index")
        );
    }

    /// recall@10 of `index` against exact search, over `queries`.
    fn recall(index: &VectorIndex, queries: &[Vec<f32>]) -> f64 {
        let mut found = 0;
        for q in queries {
            let want: Vec<u32> = index
                .exact(q, 10)
                .expect("exact")
                .iter()
                .map(|h| h.row)
                .collect();
            let got = index.search(q, 10, 64, None).expect("hnsw");
            found += got.iter().filter(|h| want.contains(&h.row)).count();
        }
        found as f64 / (queries.len() * 10) as f64
    }

    /// Every link is to another node that has a vector; the share of nodes with a vector
    /// that a walk of layer 0 from the entry point reaches.
    fn reachable(index: &VectorIndex) -> f64 {
        let graph = index.graph.as_ref().expect("graph");
        let mut seen = vec![false; index.len()];
        let mut todo = vec![graph.entry];
        seen[graph.entry as usize] = true;
        while let Some(i) = todo.pop() {
            for l in 0..=graph.levels[i as usize] as usize {
                for &t in index.neighbours(graph, i, l) {
                    assert!(t != i && !index.missing[t as usize], "link {i} -> {t}");
                    if !seen[t as usize] {
                        seen[t as usize] = true;
                        todo.push(t);
                    }
                }
            }
        }
        seen.iter().filter(|s| **s).count() as f64 / index.vector_count() as f64
    }

    #[test]
    fn update_inserts_only_the_new_vectors_and_keeps_the_rest_of_the_graph() {
        let (n, dim) = (EXACT_BELOW + 2_000, 32);
        let params = Params::default();
        let data = random_vectors(n, dim, 7);
        let old = VectorIndex::build(dim, Metric::Cosine, params, data.iter().cloned().map(Some))
            .expect("build");
        // The next version: every 100th row gone, a new vector after every 100th + 50, rows in
        // a new order (the second half first) and one row without a vector.
        let mut fresh = random_vectors(n / 100, dim, 1234).into_iter();
        let mut now: Vec<Option<Vec<f32>>> = Vec::new();
        let (mut removed, mut inserted) = (0, 0);
        for (i, v) in data.iter().enumerate() {
            if i % 100 == 0 {
                removed += 1;
                continue;
            }
            now.push(Some(v.clone()));
            if i % 100 == 50 {
                now.push(fresh.next());
                inserted += 1;
            }
        }
        let half = now.len() / 2;
        now.rotate_left(half);
        now.insert(10, None);

        let (updated, update) =
            VectorIndex::update(&old, dim, Metric::Cosine, params, now.clone()).expect("update");
        assert_eq!(
            update,
            Update {
                kept: n - removed,
                inserted,
                removed,
                graph: GraphBuild::Updated
            }
        );
        let whole = VectorIndex::build(dim, Metric::Cosine, params, now.clone()).expect("build");
        assert_eq!(
            (&updated.vectors, &updated.missing),
            (&whole.vectors, &whole.missing)
        );
        let queries = random_vectors(50, dim, 99);
        let (r_updated, r_whole) = (recall(&updated, &queries), recall(&whole, &queries));
        let (reach_updated, reach_whole) = (reachable(&updated), reachable(&whole));
        eprintln!(
            "recall@10 updated {r_updated}, whole {r_whole}; reachable {reach_updated}, {reach_whole}"
        );
        assert!(
            r_updated >= 0.95 && r_updated >= r_whole - 0.02,
            "{r_updated} vs {r_whole}"
        );
        assert!(reach_updated >= 0.999, "{reach_updated}");
        for q in queries.iter().take(5) {
            assert_eq!(
                updated.exact(q, 10).expect("exact"),
                whole.exact(q, 10).expect("exact")
            );
        }

        // Nothing changed: the same index, not one node inserted or relinked.
        let (again, update) =
            VectorIndex::update(&updated, dim, Metric::Cosine, params, now.clone()).expect("again");
        assert_eq!(
            update,
            Update {
                kept: n - removed + inserted,
                inserted: 0,
                removed: 0,
                graph: GraphBuild::Updated
            }
        );
        assert_eq!(again, updated);

        // Most rows new: built whole. Other settings: built whole.
        let (_, update) = VectorIndex::update(
            &old,
            dim,
            Metric::Cosine,
            params,
            random_vectors(n, dim, 5).into_iter().map(Some),
        )
        .expect("new data");
        assert_eq!(
            (update.kept, update.inserted, update.removed, update.graph),
            (
                0,
                n,
                n,
                GraphBuild::Whole("fewer than half the vectors were in the previous index")
            )
        );
        let other = Params { m: 8, ..params };
        let (_, update) =
            VectorIndex::update(&old, dim, Metric::Cosine, other, now).expect("other settings");
        assert_eq!(
            update.graph,
            GraphBuild::Whole("the previous index was built with other settings")
        );

        // Below the graph's threshold: the counts, no graph.
        let small = &data[..100];
        let before =
            VectorIndex::build(dim, Metric::Cosine, params, small.iter().cloned().map(Some))
                .expect("small");
        let (after, update) = VectorIndex::update(
            &before,
            dim,
            Metric::Cosine,
            params,
            small[1..]
                .iter()
                .cloned()
                .map(Some)
                .chain([Some(data[200].clone())]),
        )
        .expect("small update");
        assert!(!after.has_graph());
        assert_eq!(
            update,
            Update {
                kept: 99,
                inserted: 1,
                removed: 1,
                graph: GraphBuild::None
            }
        );
    }

    #[test]
    fn exact_search_orders_by_distance_and_skips_missing_vectors() {
        let index = VectorIndex::build(
            2,
            Metric::Cosine,
            Params::default(),
            vec![
                Some(vec![1.0, 0.0]),
                None,
                Some(vec![0.0, 1.0]),
                Some(vec![1.0, 1.0]),
            ],
        )
        .expect("build");
        let hits = index.search(&[1.0, 0.1], 3, 10, None).expect("search");
        let rows: Vec<u32> = hits.iter().map(|h| h.row).collect();
        assert_eq!(rows, [0, 3, 2]);
        assert!(hits[0].distance < hits[1].distance);
        let err = index.search(&[1.0], 3, 10, None).expect_err("dimension");
        assert_eq!(
            err.0,
            "the query vector has 1 dimensions, the index 2: embed the query with the dataset's model"
        );
    }
}
