//! Gradient-boosted trees: trained by LightGBM (the `lightgbm3` binding, which
//! builds LightGBM from source), served by passeur's own flattened evaluator.
//!
//! Training drives LightGBM one iteration at a time through its custom-objective
//! entry point: passeur computes the gradients (log-loss, softmax or squared
//! error around a base score), which gives the progress bar its iterations and
//! lets the held-out rows ride along with zero gradient, so that the validation
//! loss is known after every tree and training stops when it has not improved
//! for `early_stopping_rounds` (zero gradients end LightGBM's loop; the trees
//! past the best iteration are dropped).
//!
//! The trained model is read back from LightGBM's text format
//! (`Booster::save_string`) into [`TreeEnsemble`]: every node of every tree in
//! one array, thresholds kept as LightGBM's `f64`, LightGBM's decision rule
//! (missing types, default directions) reproduced, so that predictions equal
//! LightGBM's own (a test checks them); scoring a batch walks the trees
//! tree-major, each tree's nodes staying in cache across the rows.

use crate::error::{RankingError, Result};
use lightgbm3::{Booster, Dataset, ImportanceType};
use serde::{Deserialize, Serialize};

/// What the trees learn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum GbdtObjective {
    /// Two binary log-loss models, p(click | shown) and p(booking | shown).
    #[default]
    Binary,
    /// pass Culture's 2024 model: one softmax over seen / consulted / booked;
    /// p(click) = p(consulted) + p(booked), p(booking) = p(booked).
    ThreeClass,
    /// The deck's 2023 model: one regression on click + booking × (1 + Δdiv), whose prediction is
    /// the ranking score itself.
    Regression,
}

impl GbdtObjective {
    /// Parses `binary`, `three-class` or `regression`.
    pub fn parse(text: &str) -> Option<GbdtObjective> {
        match text {
            "binary" => Some(GbdtObjective::Binary),
            "three-class" => Some(GbdtObjective::ThreeClass),
            "regression" => Some(GbdtObjective::Regression),
            _ => None,
        }
    }
}

/// LightGBM's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GbdtConfig {
    /// Boosting rounds at most.
    pub max_rounds: usize,
    /// Rounds without improvement of the validation loss before training stops.
    pub early_stopping_rounds: usize,
    /// Shrinkage.
    pub learning_rate: f64,
    /// Leaves per tree.
    pub num_leaves: usize,
    /// Depth limit (keeps the served trees shallow).
    pub max_depth: usize,
    /// Smallest hessian sum of a leaf.
    pub min_sum_hessian_in_leaf: f64,
    /// Histogram bins per feature.
    pub max_bin: usize,
    /// Share of features each tree may use.
    pub feature_fraction: f64,
    /// L2 penalty on leaf values.
    pub lambda_l2: f64,
    /// Training threads (0: every core).
    pub threads: usize,
}

impl Default for GbdtConfig {
    fn default() -> Self {
        GbdtConfig {
            max_rounds: 300,
            early_stopping_rounds: 20,
            learning_rate: 0.3,
            num_leaves: 31,
            max_depth: 8,
            min_sum_hessian_in_leaf: 5.0,
            max_bin: 63,
            feature_fraction: 0.9,
            lambda_l2: 1.0,
            threads: 0,
        }
    }
}

impl GbdtConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: String| Err(RankingError::Config { field, reason });
        if self.max_rounds == 0 {
            return bad("gbdt.max_rounds", "must be at least 1".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return bad("gbdt.learning_rate", format!("{} is not in (0, 1]", self.learning_rate));
        }
        if self.num_leaves < 2 {
            return bad("gbdt.num_leaves", format!("{} is fewer than 2", self.num_leaves));
        }
        if self.max_depth == 0 {
            return bad("gbdt.max_depth", "must be at least 1".into());
        }
        if self.max_bin < 2 {
            return bad("gbdt.max_bin", format!("{} is fewer than 2", self.max_bin));
        }
        if !(self.feature_fraction > 0.0 && self.feature_fraction <= 1.0) {
            return bad("gbdt.feature_fraction", format!("{} is not in (0, 1]", self.feature_fraction));
        }
        if !(self.lambda_l2.is_finite() && self.lambda_l2 >= 0.0) {
            return bad("gbdt.lambda_l2", format!("{} is not a finite number ≥ 0", self.lambda_l2));
        }
        if !(self.min_sum_hessian_in_leaf.is_finite() && self.min_sum_hessian_in_leaf >= 0.0) {
            return bad("gbdt.min_sum_hessian_in_leaf", format!("{} is negative", self.min_sum_hessian_in_leaf));
        }
        Ok(())
    }
}

/// One node of a flattened tree.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Feature compared.
    pub feature: u32,
    /// LightGBM's decision type: bit 1 default-left, bits 2–3 the missing type (0 none, 1 zero, 2 NaN).
    pub decision: u8,
    /// Go left when the feature is ≤ this.
    pub threshold: f64,
    /// Left child: a node index ≥ 0, or `!leaf` (a leaf index, bitwise negated).
    pub left: i32,
    /// Right child, same encoding.
    pub right: i32,
}

/// A node as the evaluator walks it: 16 bytes, four to a cache line. The threshold is LightGBM's
/// `f64` rounded down to the nearest `f32`, so that for every `f32` feature value `x`,
/// `x ≤ threshold32` exactly when `f64(x) ≤ threshold`: the comparison stays LightGBM's.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct FastNode {
    threshold: f32,
    feature: u32,
    left: i32,
    right: i32,
}

fn round_down_f32(t: f64) -> f32 {
    let mut t32 = t as f32;
    if f64::from(t32) > t {
        t32 = t32.next_down();
    }
    t32
}

/// Trees with `outputs` values each row (1, or one per class), flattened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "SavedEnsemble", into = "SavedEnsemble")]
pub struct TreeEnsemble {
    /// Values per row (trees are assigned to outputs in turn, LightGBM's order).
    pub outputs: usize,
    /// Features a row must have.
    pub features: usize,
    /// Per tree: its root (a node index, or `!leaf` for a single-leaf tree).
    pub roots: Vec<i32>,
    /// Every internal node.
    pub nodes: Vec<Node>,
    /// Every leaf value (shrinkage included).
    pub leaves: Vec<f64>,
    /// The nodes as walked (rebuilt from `nodes` by [`TreeEnsemble::prepare`]); `None` when a node
    /// needs LightGBM's missing-value rule, which the fast walk leaves out.
    fast: Option<Vec<FastNode>>,
    /// Per tree: its depth (steps from the root to the deepest leaf), rebuilt with `fast`.
    depths: Vec<u32>,
}

/// The saved form of [`TreeEnsemble`] (the walked nodes are rebuilt on load).
#[derive(Serialize, Deserialize)]
struct SavedEnsemble {
    outputs: usize,
    features: usize,
    roots: Vec<i32>,
    nodes: Vec<Node>,
    leaves: Vec<f64>,
}

impl From<SavedEnsemble> for TreeEnsemble {
    fn from(s: SavedEnsemble) -> TreeEnsemble {
        let mut t = TreeEnsemble {
            outputs: s.outputs,
            features: s.features,
            roots: s.roots,
            nodes: s.nodes,
            leaves: s.leaves,
            fast: None,
            depths: Vec::new(),
        };
        t.prepare();
        t
    }
}

impl From<TreeEnsemble> for SavedEnsemble {
    fn from(t: TreeEnsemble) -> SavedEnsemble {
        SavedEnsemble { outputs: t.outputs, features: t.features, roots: t.roots, nodes: t.nodes, leaves: t.leaves }
    }
}

const DEFAULT_LEFT: u8 = 2;
/// Rows walked through a tree together: independent paths the processor overlaps.
const LANES: usize = 8;

#[inline]
fn step(node: &Node, value: f32) -> i32 {
    let missing = (node.decision >> 2) & 3;
    let mut x = f64::from(value);
    if x.is_nan() && missing != 2 {
        x = 0.0;
    }
    if (missing == 1 && x.abs() <= 1e-35) || (missing == 2 && x.is_nan()) {
        return if node.decision & DEFAULT_LEFT != 0 { node.left } else { node.right };
    }
    if x <= node.threshold { node.left } else { node.right }
}

impl TreeEnsemble {
    /// Number of trees.
    pub fn len(&self) -> usize {
        self.roots.len()
    }

    /// True without trees.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    #[inline]
    fn leaf(&self, tree: usize, row: &[f32]) -> f64 {
        let mut at = self.roots[tree];
        while at >= 0 {
            at = step(&self.nodes[at as usize], row[self.nodes[at as usize].feature as usize]);
        }
        self.leaves[!at as usize]
    }

    /// Raw sums of one row into `out` (length `outputs`), added to what `out` holds.
    pub fn add_raw(&self, row: &[f32], out: &mut [f64]) {
        for t in 0..self.roots.len() {
            out[t % self.outputs] += self.leaf(t, row);
        }
    }

    /// Builds the walked nodes (after a change of `nodes`); only nodes without a missing-value rule
    /// (LightGBM's "none": NaN reads as 0, the case of features that never miss) are walked fast.
    pub fn prepare(&mut self) {
        let depth_of = |root: i32| -> u32 {
            let mut deepest = 0;
            let mut stack = vec![(root, 0u32)];
            while let Some((at, d)) = stack.pop() {
                if at < 0 || at as usize >= self.nodes.len() {
                    deepest = deepest.max(d);
                    continue;
                }
                let node = &self.nodes[at as usize];
                // Children come after their parent (checked on load): anything else ends the path.
                for child in [node.left, node.right] {
                    stack.push((if child >= 0 && child <= at { -1 } else { child }, d + 1));
                }
            }
            deepest
        };
        self.depths = self.roots.iter().map(|&r| depth_of(r)).collect();
        self.fast = self.nodes.iter().all(|n| (n.decision >> 2) & 3 == 0).then(|| {
            self.nodes
                .iter()
                .map(|n| FastNode {
                    threshold: round_down_f32(n.threshold),
                    feature: n.feature,
                    left: n.left,
                    right: n.right,
                })
                .collect()
        });
    }

    /// Raw sums of `rows` (row-major, `features` each) into `out` (`outputs` per row), added to what
    /// `out` holds. Rows go through each tree eight at a time, so that their independent paths
    /// overlap, and blocks of rows stay in cache across the trees.
    pub fn add_raw_batch(&self, rows: &[f32], out: &mut [f64]) {
        let dim = self.features.max(1);
        let n = rows.len() / dim;
        debug_assert_eq!(out.len(), n * self.outputs);
        let Some(fast) = &self.fast else {
            for t in 0..self.roots.len() {
                let k = t % self.outputs;
                for (i, row) in rows.chunks_exact(dim).enumerate() {
                    out[i * self.outputs + k] += self.leaf(t, row);
                }
            }
            return;
        };
        const BLOCK: usize = 64;
        for block in (0..n).step_by(BLOCK) {
            let end = (block + BLOCK).min(n);
            for (t, (&root, &depth)) in self.roots.iter().zip(&self.depths).enumerate() {
                let k = t % self.outputs;
                let mut i = block;
                while i < end {
                    let lanes = (end - i).min(LANES);
                    // A fixed number of branch-free steps (the tree's depth): a lane at a leaf stays there.
                    let mut at = [root; LANES];
                    for _ in 0..depth {
                        for (l, a) in at.iter_mut().enumerate().take(lanes) {
                            let node = &fast[(*a).max(0) as usize];
                            let x = rows[(i + l) * dim + node.feature as usize];
                            let x = if x.is_nan() { 0.0 } else { x };
                            let next = if x <= node.threshold { node.left } else { node.right };
                            *a = if *a < 0 { *a } else { next };
                        }
                    }
                    for (l, a) in at.iter().enumerate().take(lanes) {
                        out[(i + l) * self.outputs + k] += self.leaves[!*a as usize];
                    }
                    i += lanes;
                }
            }
        }
    }

    /// Keeps the first `iterations` boosting rounds.
    pub fn truncate(&mut self, iterations: usize) {
        self.roots.truncate(iterations * self.outputs);
        self.depths.truncate(self.roots.len());
    }

    /// Reads LightGBM's text model format (what `Booster::save_string` writes).
    pub fn from_lightgbm(text: &str, features: usize) -> Result<TreeEnsemble> {
        let bad = |what: String| RankingError::Data(format!("LightGBM model text: {what}"));
        let mut outputs = 1usize;
        let mut ensemble = TreeEnsemble {
            outputs: 1,
            features,
            roots: Vec::new(),
            nodes: Vec::new(),
            leaves: Vec::new(),
            fast: None,
            depths: Vec::new(),
        };
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            if let Some(v) = line.strip_prefix("num_tree_per_iteration=") {
                outputs = v.trim().parse().map_err(|_| bad(format!("num_tree_per_iteration {v:?}")))?;
            }
            if let Some(v) = line.strip_prefix("max_feature_idx=") {
                let max: usize = v.trim().parse().map_err(|_| bad(format!("max_feature_idx {v:?}")))?;
                if max + 1 > features {
                    return Err(bad(format!("{} features, this layout has {features}", max + 1)));
                }
            }
            if !line.starts_with("Tree=") {
                continue;
            }
            let mut fields: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
            while let Some(l) = lines.peek() {
                if l.trim().is_empty() {
                    break;
                }
                let l = lines.next().expect("peeked");
                if let Some((k, v)) = l.split_once('=') {
                    fields.insert(k, v);
                }
            }
            let leaves_n: usize = fields
                .get("num_leaves")
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| bad(format!("{line}: no num_leaves")))?;
            if fields.get("num_cat").is_some_and(|v| v.trim() != "0") {
                return Err(bad(format!("{line}: categorical splits are not read")));
            }
            let list = |key: &str| -> Result<Vec<&str>> {
                Ok(fields.get(key).ok_or_else(|| bad(format!("{line}: no {key}")))?.split_whitespace().collect())
            };
            let floats = |key: &str| -> Result<Vec<f64>> {
                list(key)?
                    .into_iter()
                    .map(|s| s.parse().map_err(|_| bad(format!("{line}: {key} value {s:?}"))))
                    .collect()
            };
            let ints = |key: &str| -> Result<Vec<i64>> {
                list(key)?
                    .into_iter()
                    .map(|s| s.parse().map_err(|_| bad(format!("{line}: {key} value {s:?}"))))
                    .collect()
            };
            let leaf_values = floats("leaf_value")?;
            if leaf_values.len() != leaves_n {
                return Err(bad(format!("{line}: {} leaf values for {leaves_n} leaves", leaf_values.len())));
            }
            let leaf_base = ensemble.leaves.len() as i64;
            ensemble.leaves.extend(&leaf_values);
            if leaves_n == 1 {
                ensemble.roots.push(!(leaf_base as i32));
                continue;
            }
            let split_feature = ints("split_feature")?;
            let threshold = floats("threshold")?;
            let decision_type = ints("decision_type")?;
            let left = ints("left_child")?;
            let right = ints("right_child")?;
            let inner = leaves_n - 1;
            if [split_feature.len(), threshold.len(), decision_type.len(), left.len(), right.len()]
                .iter()
                .any(|&n| n != inner)
            {
                return Err(bad(format!("{line}: node arrays are not {inner} long")));
            }
            let node_base = ensemble.nodes.len() as i64;
            let child = |c: i64| -> Result<i32> {
                let v = if c >= 0 {
                    if c as usize >= inner {
                        return Err(bad(format!("{line}: child {c} out of range")));
                    }
                    node_base + c
                } else {
                    let leaf = -c - 1;
                    if leaf as usize >= leaves_n {
                        return Err(bad(format!("{line}: leaf {leaf} out of range")));
                    }
                    !(leaf_base + leaf)
                };
                i32::try_from(v).map_err(|_| bad("too many nodes".into()))
            };
            for n in 0..inner {
                if split_feature[n] < 0 || split_feature[n] as usize >= features {
                    return Err(bad(format!("{line}: split feature {} out of range", split_feature[n])));
                }
                if decision_type[n] & 1 != 0 {
                    return Err(bad(format!("{line}: categorical splits are not read")));
                }
                ensemble.nodes.push(Node {
                    feature: split_feature[n] as u32,
                    decision: decision_type[n] as u8,
                    threshold: threshold[n],
                    left: child(left[n])?,
                    right: child(right[n])?,
                });
            }
            ensemble.roots.push(node_base as i32);
        }
        if outputs == 0 || !ensemble.roots.len().is_multiple_of(outputs) {
            return Err(bad(format!("{} trees for {outputs} outputs per round", ensemble.roots.len())));
        }
        ensemble.outputs = outputs;
        ensemble.prepare();
        Ok(ensemble)
    }

    /// Checks that every index is in range (a loaded file may have been edited).
    pub fn check(&self) -> Result<()> {
        let bad = |what: String| Err(RankingError::Data(format!("tree ensemble: {what}")));
        if self.outputs == 0 || !self.roots.len().is_multiple_of(self.outputs) {
            return bad(format!("{} trees for {} outputs", self.roots.len(), self.outputs));
        }
        let ok = |c: i32| if c >= 0 { (c as usize) < self.nodes.len() } else { (!c as usize) < self.leaves.len() };
        if let Some(r) = self.roots.iter().find(|&&r| !ok(r)) {
            return bad(format!("root {r} out of range"));
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if !ok(n.left) || !ok(n.right) || n.feature as usize >= self.features {
                return bad(format!("node {i} out of range"));
            }
            // Children come after their parent in LightGBM's numbering: no cycle.
            if (n.left >= 0 && n.left as usize <= i) || (n.right >= 0 && n.right as usize <= i) {
                return bad(format!("node {i} points backwards"));
            }
        }
        Ok(())
    }
}

/// Rows and targets for one training run: row-major features, and per row either one target
/// (binary, regression) or a class (three-class).
pub struct TrainSet<'a> {
    /// Training rows, row-major.
    pub x: &'a [f32],
    /// Targets of the training rows (0/1, a class index, or a real value).
    pub y: &'a [f32],
    /// Validation rows (the period just before the held-out one), row-major.
    pub valid_x: &'a [f32],
    /// Their targets.
    pub valid_y: &'a [f32],
    /// Features per row.
    pub dim: usize,
    /// Per feature: +1 the prediction may only rise with it, −1 only fall, 0 free (empty: all free).
    pub monotone: &'a [i8],
}

/// What one training run gives.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The trees, cut at the best validation iteration.
    pub trees: TreeEnsemble,
    /// The base score per output (log-odds of the rate, log class priors, or the mean).
    pub base: Vec<f64>,
    /// Validation loss after each iteration.
    pub valid_loss: Vec<f64>,
    /// The iteration kept (1-based).
    pub best_iteration: usize,
    /// Split gain per feature (LightGBM's importance over every tree grown, the ones past the best
    /// iteration included: it is read from the booster before the cut).
    pub gain: Vec<f64>,
    /// LightGBM's text model, whole (before the cut).
    pub lightgbm_text: String,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Trains one LightGBM model with passeur's gradients; `progress` is called after each iteration.
pub fn train(
    set: &TrainSet<'_>,
    objective: GbdtObjective,
    config: &GbdtConfig,
    seed: u64,
    progress: &dyn Fn(usize),
) -> Result<Trained> {
    config.validate()?;
    let fail = |reason: String| RankingError::Fit { head: "gbdt", reason };
    let (n_train, n_valid) = (set.y.len(), set.valid_y.len());
    if n_train == 0 || set.x.len() != n_train * set.dim || set.valid_x.len() != n_valid * set.dim {
        return Err(RankingError::Data(format!(
            "gbdt: {n_train} training targets for {} values, {n_valid} validation targets for {} values, {} features",
            set.x.len(),
            set.valid_x.len(),
            set.dim
        )));
    }
    let outputs = if objective == GbdtObjective::ThreeClass { 3 } else { 1 };
    // Base scores from the training targets.
    let base: Vec<f64> = match objective {
        GbdtObjective::Binary => {
            let rate = set.y.iter().map(|&v| f64::from(v)).sum::<f64>() / n_train as f64;
            if rate <= 0.0 || rate >= 1.0 {
                return Err(RankingError::Data(format!(
                    "gbdt: the training rows hold a positive rate of {rate}: both outcomes are needed"
                )));
            }
            vec![(rate / (1.0 - rate)).ln()]
        }
        GbdtObjective::ThreeClass => {
            let mut counts = [0f64; 3];
            for &c in set.y {
                counts[(c as usize).min(2)] += 1.0;
            }
            if counts.contains(&0.0) {
                return Err(RankingError::Data(format!(
                    "gbdt: the training rows hold {counts:?} seen / consulted / booked: every class is needed"
                )));
            }
            counts.iter().map(|c| (c / n_train as f64).ln()).collect()
        }
        GbdtObjective::Regression => vec![set.y.iter().map(|&v| f64::from(v)).sum::<f64>() / n_train as f64],
    };
    // Training rows, then the validation rows (zero gradient: they are scored, never learned from).
    let mut x = Vec::with_capacity(set.x.len() + set.valid_x.len());
    x.extend_from_slice(set.x);
    x.extend_from_slice(set.valid_x);
    let mut labels = Vec::with_capacity(n_train + n_valid);
    labels.extend_from_slice(set.y);
    labels.extend_from_slice(set.valid_y);
    let rows = n_train + n_valid;
    let dataset = Dataset::from_slice(&x, &labels, set.dim as i32, true).map_err(|e| fail(e.to_string()))?;
    drop(x);
    let mut params = serde_json::json!({
        "num_iterations": config.max_rounds,
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "max_depth": config.max_depth,
        "min_data_in_leaf": 20,
        "min_sum_hessian_in_leaf": config.min_sum_hessian_in_leaf,
        "max_bin": config.max_bin,
        "feature_fraction": config.feature_fraction,
        "lambda_l2": config.lambda_l2,
        "num_class": outputs,
        "num_threads": config.threads,
        "seed": seed,
        "deterministic": true,
        "force_row_wise": true,
        "verbosity": -1,
    });
    if set.monotone.iter().any(|&m| m != 0) {
        if set.monotone.len() != set.dim {
            return Err(RankingError::Data(format!(
                "gbdt: {} monotone constraints for {} features",
                set.monotone.len(),
                set.dim
            )));
        }
        let list: Vec<String> = set.monotone.iter().map(|m| m.to_string()).collect();
        params["monotone_constraints"] = serde_json::Value::String(list.join(","));
    }
    let mut valid_loss: Vec<f64> = Vec::new();
    let mut best = (f64::INFINITY, 0usize);
    let mut stopped = false;
    let patience = config.early_stopping_rounds.max(1);
    let mut first_call = true;
    let gradients = |raw: &[f64], _labels: &[f32], grad: &mut [f32], hess: &mut [f32]| {
        // LightGBM hands the raw scores class-major: output k of row i at k·rows + i.
        if !first_call {
            // The scores include the tree added by the previous call: measure the validation loss.
            let loss = validation_loss(objective, raw, &labels, &base, n_train, rows);
            valid_loss.push(loss);
            progress(1);
            if loss < best.0 - 1e-12 {
                best = (loss, valid_loss.len());
            } else if valid_loss.len() - best.1 >= patience {
                stopped = true;
            }
        }
        first_call = false;
        if stopped {
            grad.fill(0.0);
            hess.fill(0.0);
            return;
        }
        match objective {
            GbdtObjective::Binary => {
                for i in 0..n_train {
                    let p = sigmoid(raw[i] + base[0]);
                    grad[i] = (p - f64::from(labels[i])) as f32;
                    hess[i] = (p * (1.0 - p)).max(1e-16) as f32;
                }
            }
            GbdtObjective::ThreeClass => {
                for i in 0..n_train {
                    let z: [f64; 3] = std::array::from_fn(|k| raw[k * rows + i] + base[k]);
                    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let e = z.map(|v| (v - m).exp());
                    let s: f64 = e.iter().sum();
                    for k in 0..3 {
                        let p = e[k] / s;
                        let y = f64::from(u8::from(labels[i] as usize == k));
                        grad[k * rows + i] = (p - y) as f32;
                        // LightGBM's multiclass hessian factor K / (K − 1).
                        hess[k * rows + i] = (1.5 * p * (1.0 - p)).max(1e-16) as f32;
                    }
                }
            }
            GbdtObjective::Regression => {
                for i in 0..n_train {
                    grad[i] = (raw[i] + base[0] - f64::from(labels[i])) as f32;
                    hess[i] = 1.0;
                }
            }
        }
        for k in 0..outputs {
            grad[k * rows + n_train..(k + 1) * rows].fill(0.0);
            hess[k * rows + n_train..(k + 1) * rows].fill(0.0);
        }
    };
    let booster = Booster::train_with_valid_custom_objective(dataset, None, &params, gradients)
        .map_err(|e| fail(e.to_string()))?;
    let text = booster.save_string().map_err(|e| fail(e.to_string()))?;
    let gain = booster.feature_importance(ImportanceType::Gain).map_err(|e| fail(e.to_string()))?;
    let mut trees = TreeEnsemble::from_lightgbm(&text, set.dim)?;
    // The last tree's loss is not measured by the callback (no call follows it): measure it here.
    let rounds = trees.len() / outputs;
    if valid_loss.len() < rounds {
        let mut raw = vec![0f64; n_valid * outputs];
        trees.add_raw_batch(set.valid_x, &mut raw);
        // `validation_loss` reads class-major scores over all rows; lay the validation rows out so.
        let mut laid = vec![0f64; rows * outputs];
        for i in 0..n_valid {
            for k in 0..outputs {
                laid[k * rows + n_train + i] = raw[i * outputs + k];
            }
        }
        let loss = validation_loss(objective, &laid, &labels, &base, n_train, rows);
        valid_loss.push(loss);
        progress(1);
        if loss < best.0 - 1e-12 {
            best = (loss, valid_loss.len());
        }
    }
    let best_iteration = best.1.max(1).min(rounds.max(1));
    trees.truncate(best_iteration);
    Ok(Trained { trees, base, valid_loss, best_iteration, gain, lightgbm_text: text })
}

fn validation_loss(
    objective: GbdtObjective,
    raw: &[f64],
    labels: &[f32],
    base: &[f64],
    from: usize,
    rows: usize,
) -> f64 {
    let n = (rows - from).max(1) as f64;
    let mut sum = 0.0;
    for i in from..rows {
        let y = f64::from(labels[i]);
        sum += match objective {
            GbdtObjective::Binary => {
                let p = sigmoid(raw[i] + base[0]).clamp(1e-15, 1.0 - 1e-15);
                -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
            }
            GbdtObjective::ThreeClass => {
                let z: [f64; 3] = std::array::from_fn(|k| raw[k * rows + i] + base[k]);
                let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let log_sum = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                log_sum - z[(y as usize).min(2)]
            }
            GbdtObjective::Regression => (raw[i] + base[0] - y).powi(2),
        };
    }
    sum / n
}

/// LightGBM's own raw predictions for `rows` (row-major): the reference the flattened trees are
/// checked against.
pub fn lightgbm_raw(text: &str, rows: &[f32], dim: usize, iterations: usize) -> Result<Vec<f64>> {
    let fail = |reason: String| RankingError::Fit { head: "gbdt", reason };
    let mut booster = Booster::from_string(text).map_err(|e| fail(e.to_string()))?;
    booster.set_max_iterations(iterations as i32).map_err(|e| fail(e.to_string()))?;
    booster.raw_scores(rows, dim as i32, true).map_err(|e| fail(e.to_string()))
}
