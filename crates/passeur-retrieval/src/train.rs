//! Training: examples from the training split, in-batch sampled softmax with
//! logQ correction, sparse id updates, early stopping on validation.

use crate::config::{HistoryMode, ModelConfig, Positives, TrainConfig};
use crate::data::{Catalogue, Dataset, Event, EventKind, Split, UserRow, fold, in_history, sample_in_order};
use crate::error::{Result, RetrievalError};
use crate::eval::{Task, VectorScorer, evaluate};
use crate::model::{ItemBatch, ModelShape, SparseUse, TwoTower, UserBatch};
use candle_core::{Device, Tensor};
use candle_nn::Optimizer;
use candle_nn::optim::{AdamW, ParamsAdamW};
use passeur_domain::Timestamp;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// What happened in one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// NDCG@k on the validation positives.
    pub valid_ndcg: f64,
    /// Training examples per second (steps only, validation excluded).
    pub examples_per_second: f64,
    /// Seconds of the epoch, validation included.
    pub seconds: f64,
}

/// What training did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Training examples per epoch.
    pub examples: usize,
    /// Users with at least one training example.
    pub users: usize,
    /// Per epoch.
    pub epochs: Vec<EpochReport>,
    /// The epoch whose parameters were kept.
    pub best_epoch: usize,
    /// Trainable values.
    pub parameters: usize,
}

/// Live progress, for progress bars.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// A step finished.
    Step {
        /// 1-based epoch.
        epoch: usize,
        /// Steps done in this epoch.
        step: usize,
        /// Steps per epoch.
        steps: usize,
        /// Running mean loss of the epoch.
        loss: f64,
    },
    /// An epoch finished (validation included).
    Epoch {
        /// 1-based epoch.
        epoch: usize,
        /// Mean loss.
        loss: f64,
        /// Validation NDCG.
        valid_ndcg: f64,
    },
}

fn is_positive(kind: EventKind, p: Positives) -> bool {
    match kind {
        EventKind::Consultation => p.consultations,
        EventKind::Favourite => p.favourites,
        EventKind::Booking => p.bookings,
        EventKind::Cancellation => false,
    }
}

/// A user's training timeline with what features need at each event.
struct UserTrain {
    /// (consultations, favourites, bookings, credit) before each event.
    before: Vec<(u32, u32, u32, i64)>,
    /// After the last event.
    after: (u32, u32, u32, i64),
    /// History offers, in order.
    history: Vec<u32>,
    /// History events before each event.
    history_before: Vec<u32>,
}

fn prepare_user(initial_credit: i64, events: &[Event]) -> UserTrain {
    let mut state = (0u32, 0u32, 0u32, initial_credit);
    let mut before = Vec::with_capacity(events.len());
    let mut history = Vec::new();
    let mut history_before = Vec::with_capacity(events.len());
    for e in events {
        before.push(state);
        history_before.push(history.len() as u32);
        match e.kind {
            EventKind::Consultation => state.0 += 1,
            EventKind::Favourite => state.1 += 1,
            EventKind::Booking => {
                state.2 += 1;
                state.3 -= e.amount;
            }
            EventKind::Cancellation => state.3 += e.amount,
        }
        if in_history(e.kind) {
            history.push(e.offer);
        }
    }
    UserTrain { before, after: state, history, history_before }
}

/// Everything needed to make training batches.
pub struct Examples<'a> {
    dataset: &'a Dataset,
    split: &'a Split,
    users: Vec<UserTrain>,
    /// (user, position in the user's training events).
    pub list: Vec<(u32, u32)>,
    /// ln of each offer's share of the examples (logQ).
    log_q: Vec<f32>,
    mode: HistoryMode,
    history_len: usize,
}

impl<'a> Examples<'a> {
    /// The training examples of a split.
    pub fn new(dataset: &'a Dataset, split: &'a Split, positives: Positives, config: &ModelConfig) -> Examples<'a> {
        let users: Vec<UserTrain> = split
            .train
            .par_iter()
            .enumerate()
            .map(|(u, events)| prepare_user(dataset.initial_credit[u], events))
            .collect();
        let mut list = Vec::new();
        let mut counts = vec![0u32; dataset.catalogue.len()];
        for (u, events) in split.train.iter().enumerate() {
            for (p, e) in events.iter().enumerate() {
                if is_positive(e.kind, positives) {
                    list.push((u as u32, p as u32));
                    counts[e.offer as usize] += 1;
                }
            }
        }
        let total = list.len().max(1) as f32;
        let log_q = counts.iter().map(|&c| ((c.max(1)) as f32 / total).ln()).collect();
        Examples { dataset, split, users, list, log_q, mode: config.history_mode, history_len: config.history_len }
    }

    /// The user row of example `(u, p)`.
    fn user_row(&self, u: u32, p: u32, rng: &mut ChaCha8Rng) -> UserRow {
        let ut = &self.users[u as usize];
        let event = self.split.train[u as usize][p as usize];
        let target = event.offer;
        let (counts, history) = match self.mode {
            HistoryMode::Before => {
                let upto = ut.history_before[p as usize] as usize;
                let mut h: Vec<u32> =
                    ut.history[..upto].iter().rev().filter(|&&o| o != target).take(self.history_len).copied().collect();
                h.reverse();
                (ut.before[p as usize], h)
            }
            HistoryMode::Others => {
                let others: Vec<u32> = ut.history.iter().copied().filter(|&o| o != target).collect();
                (ut.after, sample_in_order(&others, self.history_len, rng))
            }
        };
        UserRow::new(
            &self.dataset.users[u as usize],
            counts,
            history,
            Timestamp(event.at),
            &self.dataset.catalogue,
            Some(u),
        )
    }
}

fn mix(a: u64, b: u64) -> u64 {
    let mut x = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 29)
}

/// Users' rows after folding their context events (train, plus validation when `with_valid`).
pub fn context_rows(
    dataset: &Dataset,
    split: &Split,
    catalogue: &Catalogue,
    users: &[u32],
    with_valid: bool,
    history_len: usize,
) -> Vec<UserRow> {
    users
        .par_iter()
        .map(|&u| {
            let events = split.train[u as usize]
                .iter()
                .chain(if with_valid { split.valid[u as usize].iter() } else { [].iter() })
                .copied();
            let state = fold(dataset.initial_credit[u as usize], history_len, events);
            let at = context_end(split, u, with_valid).unwrap_or(dataset.now);
            UserRow::from_state(&dataset.users[u as usize], &state, at, catalogue, Some(u))
        })
        .collect()
}

fn context_end(split: &Split, u: u32, with_valid: bool) -> Option<Timestamp> {
    let last_train = split.train[u as usize].last().map(|e| e.at);
    let last_valid = if with_valid { split.valid[u as usize].last().map(|e| e.at) } else { None };
    last_train.max(last_valid).map(Timestamp)
}

/// The catalogue with popularity from the split's training events.
pub fn training_catalogue(dataset: &Dataset, split: &Split) -> Catalogue {
    let mut catalogue = dataset.catalogue.clone();
    catalogue.set_popularity(&split.train_stats(catalogue.len()));
    catalogue
}

/// Trains a two-tower model on a split. Returns the model (best validation
/// epoch), the catalogue it was trained with, and a report.
pub fn train(
    dataset: &Dataset,
    split: &Split,
    model_config: ModelConfig,
    config: &TrainConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<(TwoTower, Catalogue, TrainReport)> {
    model_config.validate()?;
    config.validate()?;
    let catalogue = training_catalogue(dataset, split);
    let examples = Examples::new(dataset, split, config.positives, &model_config);
    if examples.list.len() < config.batch_size {
        return Err(RetrievalError::Data(format!(
            "{} training examples, fewer than one batch of {}",
            examples.list.len(),
            config.batch_size
        )));
    }
    let shape = ModelShape {
        items: catalogue.len(),
        users: dataset.users.len(),
        departments: dataset.departments.len(),
        text_dim: catalogue.text_dim,
        image_dim: catalogue.image_dim,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut model = TwoTower::new(model_config.clone(), shape, &mut rng)?;
    let mut opt = AdamW::new(
        model.dense_vars(),
        ParamsAdamW { lr: config.learning_rate, weight_decay: config.weight_decay, ..ParamsAdamW::default() },
    )?;
    let valid = validation_task(dataset, split, config, &model_config, &catalogue);
    let mut report = TrainReport {
        examples: examples.list.len(),
        users: split.train.iter().filter(|t| !t.is_empty()).count(),
        epochs: Vec::new(),
        best_epoch: 0,
        parameters: model.parameter_count(),
    };
    let mut best: Option<(f64, crate::model::Snapshot)> = None;
    let mut order: Vec<u32> = (0..examples.list.len() as u32).collect();
    let steps = examples.list.len() / config.batch_size;
    let mut since_best = 0;
    for epoch in 1..=config.max_epochs {
        let started = Instant::now();
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0;
        for step in 0..steps {
            let chosen = &order[step * config.batch_size..(step + 1) * config.batch_size];
            let step_seed = mix(config.seed, (epoch * 1_000_003 + step) as u64);
            let loss = train_step(&mut model, &mut opt, &examples, &catalogue, chosen, config, step_seed)?;
            loss_sum += loss;
            progress(Progress::Step { epoch, step: step + 1, steps, loss: loss_sum / (step + 1) as f64 });
        }
        let train_seconds = started.elapsed().as_secs_f64();
        let valid_ndcg = validate(&model, &catalogue, &valid, config.valid_k)?;
        let loss = loss_sum / steps.max(1) as f64;
        progress(Progress::Epoch { epoch, loss, valid_ndcg });
        report.epochs.push(EpochReport {
            epoch,
            loss,
            valid_ndcg,
            examples_per_second: (steps * config.batch_size) as f64 / train_seconds.max(1e-9),
            seconds: started.elapsed().as_secs_f64(),
        });
        if !valid_ndcg.is_finite() {
            return Err(RetrievalError::Data(format!("epoch {epoch}: validation metric is not finite (loss {loss})")));
        }
        if best.as_ref().is_none_or(|(b, _)| valid_ndcg > *b) {
            best = Some((valid_ndcg, model.snapshot()?));
            report.best_epoch = epoch;
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= config.patience {
                break;
            }
        }
    }
    if let Some((_, snapshot)) = &best {
        model.restore(snapshot)?;
    }
    Ok((model, catalogue, report))
}

/// One optimisation step; returns the batch loss.
fn train_step(
    model: &mut TwoTower,
    opt: &mut AdamW,
    examples: &Examples<'_>,
    catalogue: &Catalogue,
    chosen: &[u32],
    config: &TrainConfig,
    seed: u64,
) -> Result<f64> {
    let b = chosen.len();
    let rows: Vec<UserRow> = chosen
        .par_iter()
        .enumerate()
        .map(|(k, &i)| {
            let (u, p) = examples.list[i as usize];
            let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, k as u64));
            examples.user_row(u, p, &mut rng)
        })
        .collect();
    let targets: Vec<u32> = chosen
        .iter()
        .map(|&i| {
            let (u, p) = examples.list[i as usize];
            examples.split.train[u as usize][p as usize].offer
        })
        .collect();
    let users = UserBatch::from_rows(rows);
    let mut items = ItemBatch::from_catalogue(catalogue, &targets, model.shape.items);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for id in items.ids.iter_mut() {
        if rng.random_bool(config.item_id_dropout) {
            *id = None;
        }
    }
    let device = Device::Cpu;
    let mut uses: Vec<SparseUse> = Vec::new();
    let u = model.users_forward(&users, catalogue, Some(&mut uses))?;
    let v = model.items_forward(&items, Some(&mut uses))?;
    let mut logits = u.matmul(&v.t()?)?.affine(1.0 / model.config.temperature, 0.0)?;
    if model.config.logq_correction {
        let lq: Vec<f32> = targets.iter().map(|&t| examples.log_q[t as usize]).collect();
        logits = logits.broadcast_sub(&Tensor::from_vec(lq, (1, b), &device)?)?;
    }
    // The same offer twice in a batch is not a negative of itself.
    let mut groups: FxHashMap<u32, Vec<usize>> = FxHashMap::default();
    for (k, &t) in targets.iter().enumerate() {
        groups.entry(t).or_default().push(k);
    }
    if groups.len() < b {
        let mut mask = vec![0f32; b * b];
        for members in groups.values().filter(|m| m.len() > 1) {
            for &i in members {
                for &j in members {
                    if i != j {
                        mask[i * b + j] = -1e9;
                    }
                }
            }
        }
        logits = logits.add(&Tensor::from_vec(mask, (b, b), &device)?)?;
    }
    let labels = Tensor::from_vec((0..b as u32).collect::<Vec<u32>>(), b, &device)?;
    let loss = candle_nn::loss::cross_entropy(&logits, &labels)?;
    let grads = loss.backward()?;
    opt.step(&grads)?;
    let lr = config.sparse_learning_rate as f32;
    let l2 = config.sparse_l2 as f32;
    for used in uses {
        if let Some(g) = grads.get(used.var.as_tensor()) {
            let g = g.flatten_all()?.to_vec1::<f32>()?;
            if let Some(table) = model.table_mut(used.kind) {
                table.update(&used.rows, &g, lr, l2);
            }
        }
    }
    Ok(f64::from(loss.to_scalar::<f32>()?))
}

/// Validation: users with validation positives (at most 2 000, seeded), in the training context.
struct Validation {
    task: Task,
    rows: Vec<UserRow>,
}

fn validation_task(
    dataset: &Dataset,
    split: &Split,
    config: &TrainConfig,
    model_config: &ModelConfig,
    catalogue: &Catalogue,
) -> Validation {
    let mut users: Vec<u32> = (0..split.valid.len() as u32)
        .filter(|&u| split.valid[u as usize].iter().any(|e| is_positive(e.kind, config.positives)))
        .collect();
    if users.len() > 2000 {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(config.seed, 0xACE));
        users.shuffle(&mut rng);
        users.truncate(2000);
        users.sort_unstable();
    }
    let relevant: Vec<Vec<u32>> = users
        .iter()
        .map(|&u| {
            let mut r: Vec<u32> = split.valid[u as usize]
                .iter()
                .filter(|e| is_positive(e.kind, config.positives))
                .map(|e| e.offer)
                .collect();
            r.sort_unstable();
            r.dedup();
            r
        })
        .collect();
    let exclude: Vec<Vec<u32>> = users
        .iter()
        .map(|&u| {
            let mut r: Vec<u32> = split.train[u as usize].iter().map(|e| e.offer).collect();
            r.sort_unstable();
            r.dedup();
            r
        })
        .collect();
    let task = Task::new(users.clone(), relevant, exclude);
    let rows = context_rows(dataset, split, catalogue, &users, false, model_config.history_len);
    Validation { task, rows }
}

fn validate(model: &TwoTower, catalogue: &Catalogue, valid: &Validation, k: usize) -> Result<f64> {
    if valid.task.users.is_empty() {
        return Ok(0.0);
    }
    let items = model.all_item_vectors(catalogue)?;
    let users = model.user_vectors(valid.rows.clone(), catalogue)?;
    let scorer = VectorScorer::new(users, items, model.config.dim)?;
    let metrics = evaluate(&valid.task, &scorer, catalogue.len(), &[k], None)?;
    Ok(metrics[0].ndcg)
}
