//! Leaf-wise (best-first) growth of one tree on binned data.
//!
//! * One array of row indices is partitioned in place (stably) as leaves split, so that each
//!   leaf owns a contiguous range of it (LightGBM's `DataPartition`).
//! * The leaf with the best split is split next, until `max_leaves` leaves or no leaf can split.
//! * Only the smaller child's histogram is built; the larger child's is the parent's minus it.
//!   Children that cannot split (too few rows, `max_depth`, or the last split of the tree) get
//!   no histogram.
//!
//! **Threads.** The features are cut into groups, one per thread (from 8 features on). A group
//! owns the histograms of its features for every open leaf, builds them, subtracts them and
//! finds its features' best splits; the calling thread coordinates (picks the leaf, partitions
//! the rows) and works as group 0. The other groups run on threads spawned once per tree that
//! wait for jobs on a channel, so a split costs one message round trip, not a thread start;
//! nodes with little work are done by the calling thread alone. A feature's sums are the same
//! whatever the grouping and the best splits are merged in feature order, so the tree does not
//! depend on the thread count. With fewer than 8 features there is one group and histograms of
//! large nodes are built by row chunks instead (see `hist.rs`).

use std::ops::Range;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};

use super::bins::{BinColumn, Binned};
use super::hist::{self, Gh, HBin, HistData, Layout, Rows};
use super::split::{self, FeatInfo, Rule, Rules, Split};
use super::tree::Tree;

/// With fewer features than this, one group holds them all (histograms by row chunks).
const FEATURE_GROUPS_MIN: usize = 8;
/// Below this many (rows × features) a node's histograms are built by the calling thread
/// alone, and with fewer in the whole data no thread is started.
const PAR_MIN_WORK: usize = 1 << 16;

/// Settings of tree growth.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Growth {
    /// Split constraints.
    pub(crate) rules: Rules,
    /// Maximum number of leaves (>= 2).
    pub(crate) max_leaves: usize,
    /// Maximum depth (root at depth 0).
    pub(crate) max_depth: Option<usize>,
    /// Learning rate applied to the leaf values.
    pub(crate) shrinkage: f64,
    /// Threads.
    pub(crate) threads: usize,
}

/// Grows trees on binned data, reusing its buffers from tree to tree.
pub(crate) struct Grower<'a> {
    data: &'a Binned,
    layout: &'a Layout,
    feats: &'a [FeatInfo],
    growth: Growth,
    /// Row indices, partitioned by leaf.
    idx: Vec<u32>,
    /// Scratch for partitioning.
    tmp: Vec<u32>,
    /// The feature groups (one per thread).
    groups: Vec<Group>,
}

/// A leaf while the tree grows.
struct Leaf {
    /// Its rows: `idx[rows]`.
    rows: Range<usize>,
    /// Sums of its gradients, hessians and rows.
    sums: HBin,
    depth: usize,
    /// Node whose child it is, and on which side.
    parent: Option<(usize, bool)>,
    /// Its best split, if it can split.
    best: Option<Split>,
}

/// A group's best splits for a job: the first (or only) node's and the sibling's.
type Found = (Option<Split>, Option<Split>);

/// Work for every group.
#[derive(Clone, Debug)]
enum Job {
    /// The root's histogram and best split.
    Root(HBin),
    /// After leaf `parent` split: the histogram of the smaller child (rows `idx[rows]`, leaf
    /// `small`) and, with its sums, its best split; with the larger child's sums, the larger
    /// child's histogram (leaf `large`: the parent's minus the smaller's) and best split.
    Split {
        rows: Range<usize>,
        parent: usize,
        small: usize,
        large: usize,
        small_sums: Option<HBin>,
        large_sums: Option<HBin>,
    },
}

/// What every group reads.
struct Ctx<'a> {
    hd: HistData<'a>,
    feats: &'a [FeatInfo],
    rules: Rules,
    /// One group of few features: histograms by row chunks.
    row_chunks: bool,
}

/// Some features, and the histograms on them of the leaves that may still split.
struct Group {
    features: Range<usize>,
    /// Slots of its features in a histogram.
    slots: usize,
    /// By leaf index.
    hists: Vec<Option<Vec<HBin>>>,
    /// Spare histograms.
    pool: Vec<Vec<HBin>>,
}

impl Group {
    fn spare(&mut self) -> Vec<HBin> {
        match self.pool.pop() {
            Some(mut h) => {
                h.fill(HBin::default());
                h
            }
            None => vec![HBin::default(); self.slots],
        }
    }

    fn keep(&mut self, leaf: usize, h: Vec<HBin>) {
        if self.hists.len() <= leaf {
            self.hists.resize_with(leaf + 1, || None);
        }
        self.hists[leaf] = Some(h);
    }

    fn best(&self, ctx: &Ctx<'_>, h: &[HBin], sums: &HBin) -> Option<Split> {
        let layout = ctx.hd.layout;
        let features = self.features.clone();
        split::best_split(h, layout, ctx.feats, features, sums, &ctx.rules)
    }

    fn build(&self, ctx: &Ctx<'_>, rows: Rows<'_>, out: &mut [HBin]) {
        if ctx.row_chunks {
            hist::build(&ctx.hd, rows, out);
        } else {
            hist::accumulate(&ctx.hd, self.features.clone(), rows, out);
        }
    }

    fn run(&mut self, ctx: &Ctx<'_>, idx: &[u32], job: &Job) -> Found {
        match job {
            Job::Root(sums) => {
                let old: Vec<Vec<HBin>> = self.hists.drain(..).flatten().collect();
                self.pool.extend(old);
                let mut h = self.spare();
                self.build(ctx, Rows::All(0, ctx.hd.data.rows), &mut h);
                let best = self.best(ctx, &h, sums);
                self.keep(0, h);
                (best, None)
            }
            Job::Split {
                rows,
                parent,
                small,
                large,
                small_sums,
                large_sums,
            } => {
                let parent_hist = self.hists.get_mut(*parent).and_then(Option::take);
                let mut h = self.spare();
                self.build(ctx, Rows::Idx(&idx[rows.clone()]), &mut h);
                let a = small_sums.as_ref().and_then(|s| self.best(ctx, &h, s));
                let b = match (parent_hist, large_sums) {
                    (Some(mut p), Some(s)) => {
                        hist::subtract(&mut p, &h);
                        let b = self.best(ctx, &p, s);
                        self.keep(*large, p);
                        b
                    }
                    (p, _) => {
                        self.pool.extend(p);
                        None
                    }
                };
                if small_sums.is_some() {
                    self.keep(*small, h);
                } else {
                    self.pool.push(h);
                }
                (a, b)
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

/// The groups, the rows and the threads working on them while a tree grows.
struct Crew<'a> {
    ctx: &'a Ctx<'a>,
    groups: &'a [Mutex<Group>],
    idx: &'a RwLock<Vec<u32>>,
    /// Jobs to, and answers from, the groups after the first.
    workers: Vec<(Sender<Job>, Receiver<Found>)>,
}

impl Crew<'_> {
    /// Runs `job` in every group (on the threads when the node has `rows` rows and enough
    /// work) and merges their best splits in feature order. `None` if a thread died.
    fn run(&self, job: Job, rows: usize) -> Option<Found> {
        let parallel = !self.workers.is_empty() && rows * self.ctx.feats.len() >= PAR_MIN_WORK;
        if parallel {
            for (jobs, _) in &self.workers {
                jobs.send(job.clone()).ok()?;
            }
        }
        let mut best: Found = (None, None);
        for (g, group) in self.groups.iter().enumerate() {
            let worker = g.checked_sub(1).and_then(|w| self.workers.get(w));
            let found = match worker {
                Some((_, answers)) if parallel => answers.recv().ok()?,
                _ => lock(group).run(self.ctx, &read(self.idx), &job),
            };
            let better = |new: &Option<Split>, old: &Option<Split>| match (new, old) {
                (Some(n), Some(o)) => n.gain > o.gain,
                (Some(_), None) => true,
                _ => false,
            };
            if better(&found.0, &best.0) {
                best.0 = found.0;
            }
            if better(&found.1, &best.1) {
                best.1 = found.1;
            }
        }
        Some(best)
    }
}

impl<'a> Grower<'a> {
    /// A grower over `data`.
    pub(crate) fn new(
        data: &'a Binned,
        layout: &'a Layout,
        feats: &'a [FeatInfo],
        growth: Growth,
    ) -> Self {
        let nf = feats.len();
        let n_groups = if nf >= FEATURE_GROUPS_MIN && data.rows * nf >= PAR_MIN_WORK {
            growth.threads.clamp(1, nf)
        } else {
            1
        };
        let groups = (0..n_groups)
            .map(|g| {
                let features = g * nf / n_groups..(g + 1) * nf / n_groups;
                Group {
                    slots: layout.offsets[features.end] - layout.offsets[features.start],
                    features,
                    hists: Vec::new(),
                    pool: Vec::new(),
                }
            })
            .collect();
        Grower {
            data,
            layout,
            feats,
            growth,
            idx: Vec::new(),
            tmp: Vec::new(),
            groups,
        }
    }

    /// The row indices; after [`Grower::grow`] the rows of leaf `l` are `idx()[ranges[l]]`.
    pub(crate) fn idx(&self) -> &[u32] {
        &self.idx
    }

    /// Grows one tree on the gradients `grads` (one per row); returns it with each leaf's range
    /// of [`Grower::idx`].
    pub(crate) fn grow(&mut self, grads: &[Gh]) -> (Tree, Vec<Range<usize>>) {
        let n = self.data.rows;
        let mut idx = std::mem::take(&mut self.idx);
        idx.clear();
        idx.extend(0..n as u32);
        let idx = RwLock::new(idx);
        let ctx = Ctx {
            hd: HistData {
                data: self.data,
                layout: self.layout,
                grads,
                threads: self.growth.threads,
            },
            feats: self.feats,
            rules: self.growth.rules,
            row_chunks: self.feats.len() < FEATURE_GROUPS_MIN,
        };
        let groups: Vec<Mutex<Group>> = self.groups.drain(..).map(Mutex::new).collect();
        let mut tmp = std::mem::take(&mut self.tmp);
        let grown = std::thread::scope(|scope| {
            let mut workers = Vec::new();
            for group in groups.iter().skip(1) {
                let (job_tx, job_rx) = channel::<Job>();
                let (found_tx, found_rx) = channel::<Found>();
                let (ctx, idx) = (&ctx, &idx);
                scope.spawn(move || {
                    for job in job_rx {
                        let found = lock(group).run(ctx, &read(idx), &job);
                        if found_tx.send(found).is_err() {
                            break;
                        }
                    }
                });
                workers.push((job_tx, found_rx));
            }
            let crew = Crew {
                ctx: &ctx,
                groups: &groups,
                idx: &idx,
                workers,
            };
            self.grow_with(&crew, &mut tmp)
            // `crew` drops here: the channels close and the threads end.
        });
        self.groups = groups
            .into_iter()
            .map(|g| g.into_inner().unwrap_or_else(PoisonError::into_inner))
            .collect();
        self.idx = idx.into_inner().unwrap_or_else(PoisonError::into_inner);
        self.tmp = tmp;
        grown
    }

    fn splittable(&self, rows: usize, depth: usize) -> bool {
        rows >= 2 * self.growth.rules.min_leaf as usize
            && self.growth.max_depth.is_none_or(|d| depth < d)
    }

    /// The growth loop, coordinating `crew`.
    fn grow_with(&self, crew: &Crew<'_>, tmp: &mut Vec<u32>) -> (Tree, Vec<Range<usize>>) {
        let n = self.data.rows;
        let mut sums = HBin::default();
        for &[g, h] in crew.ctx.hd.grads {
            sums.g += f64::from(g);
            sums.h += f64::from(h);
        }
        sums.n = n as u32;
        let mut root = Leaf {
            rows: 0..n,
            sums,
            depth: 0,
            parent: None,
            best: None,
        };
        if self.splittable(n, 0) {
            root.best = crew.run(Job::Root(sums), n).and_then(|f| f.0);
        }
        let mut leaves = vec![root];
        let mut tree = Tree::default();
        while leaves.len() < self.growth.max_leaves {
            // The leaf with the best gain (the first one on ties).
            let mut pick: Option<(usize, f64)> = None;
            for (i, leaf) in leaves.iter().enumerate() {
                if let Some(s) = &leaf.best
                    && pick.is_none_or(|(_, g)| s.gain > g)
                {
                    pick = Some((i, s.gain));
                }
            }
            let Some((i, _)) = pick else { break };
            let Some(s) = leaves[i].best.take() else {
                break;
            };
            let new = leaves.len();
            let last = new + 1 == self.growth.max_leaves;
            let at = &leaves[i];
            let rows = at.rows.clone();
            let n_left = {
                let mut idx = crew.idx.write().unwrap_or_else(PoisonError::into_inner);
                self.partition(&mut idx[rows.clone()], tmp, &s)
            };
            let node = add_node(&mut tree, &s, at.parent, [i, new]);
            let depth = at.depth + 1;
            let mut left = Leaf {
                rows: rows.start..rows.start + n_left,
                sums: s.left,
                depth,
                parent: Some((node, true)),
                best: None,
            };
            let mut right = Leaf {
                rows: rows.start + n_left..rows.end,
                sums: s.right,
                depth,
                parent: Some((node, false)),
                best: None,
            };
            let can_l = !last && self.splittable(left.rows.len(), depth);
            let can_r = !last && self.splittable(right.rows.len(), depth);
            if can_l || can_r {
                let left_small = left.rows.len() <= right.rows.len();
                let (small, large, can_small, can_large, ids) = if left_small {
                    (&mut left, &mut right, can_l, can_r, (i, new))
                } else {
                    (&mut right, &mut left, can_r, can_l, (new, i))
                };
                let job = Job::Split {
                    rows: small.rows.clone(),
                    parent: i,
                    small: ids.0,
                    large: ids.1,
                    small_sums: can_small.then_some(small.sums),
                    large_sums: can_large.then_some(large.sums),
                };
                let Some((a, b)) = crew.run(job, small.rows.len()) else {
                    break;
                };
                (small.best, large.best) = (a, b);
            }
            leaves[i] = left;
            leaves.push(right);
        }
        let (l2, shrinkage) = (self.growth.rules.l2, self.growth.shrinkage);
        tree.leaves = leaves
            .iter()
            .map(|l| finite_f32(-l.sums.g / (l.sums.h + l2).max(split::MIN_HESSIAN) * shrinkage))
            .collect();
        (tree, leaves.into_iter().map(|l| l.rows).collect())
    }

    /// Partitions `idx` (a leaf's rows) stably by the split; returns the number going left.
    fn partition(&self, idx: &mut [u32], tmp: &mut Vec<u32>, s: &Split) -> usize {
        let missing = self.feats[s.feature].missing;
        let goes_left = |b: usize| {
            if b == missing {
                s.missing_left
            } else {
                s.rule.goes_left(b)
            }
        };
        match &self.data.columns[s.feature] {
            BinColumn::U8(col) => {
                // A lookup table per bin: one load per row instead of the rule's branches.
                let mut table = [false; 256];
                for (b, t) in table.iter_mut().enumerate() {
                    *t = goes_left(b);
                }
                stable_partition(idx, tmp, |r| table[usize::from(col[r as usize])])
            }
            BinColumn::U16(col) => {
                stable_partition(idx, tmp, |r| goes_left(usize::from(col[r as usize])))
            }
        }
    }
}

/// Adds the node of split `s` to `tree`, its children the leaves `i` (left) and `new` (right),
/// and links it to its parent; returns its index.
fn add_node(
    tree: &mut Tree,
    s: &Split,
    parent: Option<(usize, bool)>,
    [i, new]: [usize; 2],
) -> usize {
    let node = tree.feature.len();
    tree.feature.push(s.feature as u32);
    tree.split.push(match &s.rule {
        Rule::Num { bin } => *bin,
        Rule::Cat { left } => {
            tree.sets.push(left.clone());
            (tree.sets.len() - 1) as u32
        }
    });
    tree.missing_left.push(s.missing_left);
    tree.left.push(!(i as i32));
    tree.right.push(!(new as i32));
    tree.gain.push(finite_f32(s.gain));
    match parent {
        Some((p, true)) => tree.left[p] = node as i32,
        Some((p, false)) => tree.right[p] = node as i32,
        None => {}
    }
    node
}

/// `v` as `f32`, kept finite (so that the model serialises).
fn finite_f32(v: f64) -> f32 {
    if v.is_nan() {
        0.0
    } else {
        v.clamp(f64::from(f32::MIN), f64::from(f32::MAX)) as f32
    }
}

/// Moves the rows for which `left` holds to the front of `idx`, both sides keeping their order
/// (branch-free: every row is written to both sides, and one cursor advances).
fn stable_partition(idx: &mut [u32], tmp: &mut Vec<u32>, left: impl Fn(u32) -> bool) -> usize {
    tmp.clear();
    tmp.resize(idx.len(), 0);
    let (mut n_left, mut n_right) = (0, 0);
    for i in 0..idx.len() {
        let r = idx[i];
        let l = usize::from(left(r));
        idx[n_left] = r;
        tmp[n_right] = r;
        n_left += l;
        n_right += 1 - l;
    }
    idx[n_left..].copy_from_slice(&tmp[..n_right]);
    n_left
}
