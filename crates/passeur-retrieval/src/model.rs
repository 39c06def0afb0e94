//! The two towers on candle, the sparse id tables, and saving and loading.

use crate::config::ModelConfig;
use crate::data::{Catalogue, ITEM_CATEGORICAL, ITEM_NUMERIC, USER_NUMERIC, UserRow, item_vocab_sizes};
use crate::error::{Result, RetrievalError};
use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{Embedding, Linear};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// Embedding width of each categorical item field.
const ITEM_CAT_DIMS: [usize; ITEM_CATEGORICAL] = [8, 16, 4, 8, 8, 8, 8, 8, 16];
const DEPARTMENT_DIM: usize = 8;

/// The sizes a model was built for; saved with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelShape {
    /// Rows of the item id table (the training catalogue).
    pub items: usize,
    /// Rows of the user id table.
    pub users: usize,
    /// Department vocabulary, index 0 unknown.
    pub departments: usize,
    /// Text embedding dimension (0: none).
    pub text_dim: usize,
    /// Image embedding dimension (0: none).
    pub image_dim: usize,
}

/// An embedding table outside autograd, updated row by row (lazy Adam): a
/// step costs the rows in the batch, not the whole table.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseTable {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub dim: usize,
    /// Row-major values.
    pub data: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    steps: u64,
}

impl SparseTable {
    fn new(rows: usize, dim: usize, rng: &mut ChaCha8Rng, std: f32) -> SparseTable {
        let normal = Normal::new(0.0f32, std).expect("positive std");
        let data = (0..rows * dim).map(|_| normal.sample(rng)).collect();
        SparseTable { rows, dim, data, m: vec![0.0; rows * dim], v: vec![0.0; rows * dim], steps: 0 }
    }

    fn from_data(rows: usize, dim: usize, data: Vec<f32>) -> SparseTable {
        SparseTable { rows, dim, data, m: vec![0.0; rows * dim], v: vec![0.0; rows * dim], steps: 0 }
    }

    fn gather(&self, ids: &[u32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(ids.len() * self.dim);
        for &i in ids {
            let i = i as usize;
            out.extend_from_slice(&self.data[i * self.dim..(i + 1) * self.dim]);
        }
        out
    }

    /// One lazy-Adam step on the rows `ids` with their gradient (row-major, same order).
    pub(crate) fn update(&mut self, ids: &[u32], grad: &[f32], lr: f32, l2: f32) {
        self.steps += 1;
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let c1 = 1.0 - b1.powi(self.steps.min(10_000) as i32);
        let c2 = 1.0 - b2.powi(self.steps.min(10_000) as i32);
        let d = self.dim;
        for (k, &row) in ids.iter().enumerate() {
            if row == u32::MAX {
                continue; // a masked "none" entry
            }
            let base = row as usize * d;
            for j in 0..d {
                let w = self.data[base + j];
                let g = grad[k * d + j] + l2 * w;
                let m = b1 * self.m[base + j] + (1.0 - b1) * g;
                let v = b2 * self.v[base + j] + (1.0 - b2) * g * g;
                self.m[base + j] = m;
                self.v[base + j] = v;
                self.data[base + j] = w - lr * (m / c1) / ((v / c2).sqrt() + eps);
            }
        }
    }
}

/// Which sparse table a lookup used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TableKind {
    Item,
    User,
    History,
}

/// A batch's rows of a sparse table, held as a variable so the backward pass gives their gradient.
pub(crate) struct SparseUse {
    pub kind: TableKind,
    pub rows: Vec<u32>,
    pub var: Var,
}

/// Distinct ids of a batch and each entry's position among them.
struct Lookup {
    unique: Vec<u32>,
    local: Vec<u32>,
}

fn lookup(ids: impl Iterator<Item = u32>) -> Lookup {
    let mut seen: FxHashMap<u32, u32> = FxHashMap::default();
    let mut unique = Vec::new();
    let local = ids
        .map(|id| {
            *seen.entry(id).or_insert_with(|| {
                unique.push(id);
                (unique.len() - 1) as u32
            })
        })
        .collect();
    Lookup { unique, local }
}

/// The item tower's inputs for a batch of offers.
#[derive(Debug, Clone, Default)]
pub struct ItemBatch {
    /// Offers in the batch.
    pub len: usize,
    /// Categorical fields, row-major.
    pub categorical: Vec<u32>,
    /// Numeric fields, row-major.
    pub numeric: Vec<f32>,
    /// Text embeddings, row-major (empty without text).
    pub text: Vec<f32>,
    /// Image embeddings, row-major (empty without images).
    pub image: Vec<f32>,
    /// Rows of the item id table (None: unknown to the model, or hidden).
    pub ids: Vec<Option<u32>>,
}

impl ItemBatch {
    /// Offers `indices` of a catalogue; `known_items` is the size of the model's id table
    /// (offers past it are new: content only).
    pub fn from_catalogue(catalogue: &Catalogue, indices: &[u32], known_items: usize) -> ItemBatch {
        let mut b = ItemBatch { len: indices.len(), ..ItemBatch::default() };
        for &i in indices {
            let i = i as usize;
            b.categorical.extend_from_slice(&catalogue.categorical[i]);
            b.numeric.extend_from_slice(&catalogue.numeric[i]);
            b.text.extend_from_slice(&catalogue.text[i * catalogue.text_dim..(i + 1) * catalogue.text_dim]);
            b.image.extend_from_slice(&catalogue.image[i * catalogue.image_dim..(i + 1) * catalogue.image_dim]);
            b.ids.push((i < known_items).then_some(i as u32));
        }
        b
    }
}

/// The user tower's inputs for a batch of users.
#[derive(Debug, Clone, Default)]
pub struct UserBatch {
    /// Users in the batch.
    pub len: usize,
    /// Numeric fields, row-major.
    pub numeric: Vec<f32>,
    /// Department indices.
    pub department: Vec<u32>,
    /// Rows of the user id table.
    pub ids: Vec<Option<u32>>,
    /// Catalogue indices of each user's history.
    pub history: Vec<Vec<u32>>,
}

impl UserBatch {
    /// A batch from users' rows.
    pub fn from_rows(rows: impl IntoIterator<Item = UserRow>) -> UserBatch {
        let mut b = UserBatch::default();
        for row in rows {
            b.len += 1;
            b.numeric.extend_from_slice(&row.numeric);
            b.department.push(row.department);
            b.ids.push(row.id_row);
            b.history.push(row.history);
        }
        b
    }
}

struct Mlp {
    l1: Linear,
    l2: Linear,
}

impl Mlp {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        l2_normalize(&self.l2.forward(&self.l1.forward(x)?.relu()?)?)
    }
}

fn l2_normalize(x: &Tensor) -> candle_core::Result<Tensor> {
    let norm = x.sqr()?.sum_keepdim(1)?.affine(1.0, 1e-12)?.sqrt()?;
    x.broadcast_div(&norm)
}

/// The two-tower model.
pub struct TwoTower {
    /// Architecture.
    pub config: ModelConfig,
    /// Sizes.
    pub shape: ModelShape,
    dense: Vec<(String, Var)>,
    item_cat: Vec<Embedding>,
    item_text: Option<Linear>,
    item_image: Option<Linear>,
    item_mlp: Mlp,
    department: Embedding,
    user_text: Option<Linear>,
    user_mlp: Mlp,
    pub(crate) item_ids: Option<SparseTable>,
    pub(crate) user_ids: Option<SparseTable>,
    pub(crate) history_ids: Option<SparseTable>,
    device: Device,
}

struct Init<'a> {
    rng: &'a mut ChaCha8Rng,
    dense: Vec<(String, Var)>,
    device: Device,
}

impl Init<'_> {
    fn var(&mut self, name: &str, shape: (usize, usize), values: Vec<f32>) -> Result<Tensor> {
        let var = Var::from_vec(values, shape, &self.device)?;
        let t = var.as_tensor().clone();
        self.dense.push((name.to_owned(), var));
        Ok(t)
    }

    fn linear(&mut self, name: &str, input: usize, output: usize) -> Result<Linear> {
        let bound = 1.0 / (input as f32).sqrt();
        let w: Vec<f32> = (0..input * output).map(|_| self.rng.random_range(-bound..bound)).collect();
        let b: Vec<f32> = (0..output).map(|_| self.rng.random_range(-bound..bound)).collect();
        let weight = self.var(&format!("{name}.weight"), (output, input), w)?;
        let bias = self.var(&format!("{name}.bias"), (1, output), b)?.squeeze(0)?;
        Ok(Linear::new(weight, Some(bias)))
    }

    fn embedding(&mut self, name: &str, rows: usize, dim: usize) -> Result<Embedding> {
        let normal = Normal::new(0.0f32, 0.1).expect("positive std");
        let values: Vec<f32> = (0..rows * dim).map(|_| normal.sample(self.rng)).collect();
        Ok(Embedding::new(self.var(&format!("{name}.weight"), (rows, dim), values)?, dim))
    }
}

impl TwoTower {
    /// A freshly initialised model (seeded).
    pub fn new(config: ModelConfig, shape: ModelShape, rng: &mut ChaCha8Rng) -> Result<TwoTower> {
        config.validate()?;
        let device = Device::Cpu;
        let mut init = Init { rng, dense: Vec::new(), device: device.clone() };
        let sizes = item_vocab_sizes(config.artist_buckets);
        let mut item_cat = Vec::with_capacity(ITEM_CATEGORICAL);
        for (f, (rows, dim)) in sizes.iter().zip(ITEM_CAT_DIMS).enumerate() {
            item_cat.push(init.embedding(&format!("item.cat{f}"), *rows, dim)?);
        }
        let item_text = (shape.text_dim > 0).then(|| init.linear("item.text", shape.text_dim, config.text_proj));
        let item_text = item_text.transpose()?;
        let item_image = (shape.image_dim > 0).then(|| init.linear("item.image", shape.image_dim, config.image_proj));
        let item_image = item_image.transpose()?;
        let item_in = ITEM_CAT_DIMS.iter().sum::<usize>()
            + ITEM_NUMERIC
            + if shape.text_dim > 0 { config.text_proj } else { 0 }
            + if shape.image_dim > 0 { config.image_proj } else { 0 }
            + config.item_id_dim;
        let item_mlp = Mlp {
            l1: init.linear("item.l1", item_in, config.hidden)?,
            l2: init.linear("item.l2", config.hidden, config.dim)?,
        };
        let department = init.embedding("user.department", shape.departments.max(1), DEPARTMENT_DIM)?;
        let user_text = (shape.text_dim > 0).then(|| init.linear("user.text", shape.text_dim, config.text_proj));
        let user_text = user_text.transpose()?;
        let user_in = DEPARTMENT_DIM
            + USER_NUMERIC
            + if shape.text_dim > 0 { config.text_proj } else { 0 }
            + config.history_id_dim
            + config.user_id_dim;
        let user_mlp = Mlp {
            l1: init.linear("user.l1", user_in, config.hidden)?,
            l2: init.linear("user.l2", config.hidden, config.dim)?,
        };
        let dense = init.dense;
        let item_ids = (config.item_id_dim > 0).then(|| SparseTable::new(shape.items, config.item_id_dim, rng, 0.1));
        let user_ids = (config.user_id_dim > 0).then(|| SparseTable::new(shape.users, config.user_id_dim, rng, 0.1));
        let history_ids =
            (config.history_id_dim > 0).then(|| SparseTable::new(shape.items, config.history_id_dim, rng, 0.1));
        Ok(TwoTower {
            config,
            shape,
            dense,
            item_cat,
            item_text,
            item_image,
            item_mlp,
            department,
            user_text,
            user_mlp,
            item_ids,
            user_ids,
            history_ids,
            device,
        })
    }

    /// The dense parameters, for the optimiser.
    pub(crate) fn dense_vars(&self) -> Vec<Var> {
        self.dense.iter().map(|(_, v)| v.clone()).collect()
    }

    /// Number of trainable values (dense and sparse).
    pub fn parameter_count(&self) -> usize {
        let dense: usize = self.dense.iter().map(|(_, v)| v.elem_count()).sum();
        let sparse: usize = [&self.item_ids, &self.user_ids, &self.history_ids]
            .iter()
            .filter_map(|t| t.as_ref())
            .map(|t| t.data.len())
            .sum();
        dense + sparse
    }

    pub(crate) fn table_mut(&mut self, kind: TableKind) -> Option<&mut SparseTable> {
        match kind {
            TableKind::Item => self.item_ids.as_mut(),
            TableKind::User => self.user_ids.as_mut(),
            TableKind::History => self.history_ids.as_mut(),
        }
    }

    fn table(&self, kind: TableKind) -> Option<&SparseTable> {
        match kind {
            TableKind::Item => self.item_ids.as_ref(),
            TableKind::User => self.user_ids.as_ref(),
            TableKind::History => self.history_ids.as_ref(),
        }
    }

    /// Rows of a sparse table for `ids` (None → a zero row); when `uses` is
    /// given the rows become a variable whose gradient the step applies.
    fn sparse_rows(
        &self,
        kind: TableKind,
        ids: &[Option<u32>],
        uses: Option<&mut Vec<SparseUse>>,
    ) -> Result<Option<Tensor>> {
        let Some(table) = self.table(kind) else { return Ok(None) };
        let n = ids.len();
        let valid = lookup(ids.iter().map(|i| i.filter(|&r| (r as usize) < table.rows).unwrap_or(u32::MAX)));
        // u32::MAX stands for "none": it gets a local row, masked to zero below.
        let rows: Vec<u32> = valid.unique.iter().map(|&r| if r == u32::MAX { 0 } else { r }).collect();
        let mask: Vec<f32> = ids.iter().map(|i| f32::from(i.is_some_and(|r| (r as usize) < table.rows))).collect();
        let values = table.gather(&rows);
        let source = match uses {
            Some(uses) => {
                let var = Var::from_vec(values, (rows.len(), table.dim), &self.device)?;
                let t = var.as_tensor().clone();
                uses.push(SparseUse { kind, rows: valid.unique.clone(), var });
                t
            }
            None => Tensor::from_vec(values, (rows.len(), table.dim), &self.device)?,
        };
        let local = Tensor::from_vec(valid.local, n, &self.device)?;
        let gathered = source.index_select(&local, 0)?;
        let mask = Tensor::from_vec(mask, (n, 1), &self.device)?;
        Ok(Some(gathered.broadcast_mul(&mask)?))
    }

    /// Item vectors (n × dim, unit length) for a batch; `uses` collects the sparse rows to train.
    pub(crate) fn items_forward(&self, batch: &ItemBatch, uses: Option<&mut Vec<SparseUse>>) -> Result<Tensor> {
        let n = batch.len;
        let dev = &self.device;
        let cat = Tensor::from_vec(batch.categorical.clone(), (n, ITEM_CATEGORICAL), dev)?;
        let mut parts = Vec::with_capacity(ITEM_CATEGORICAL + 4);
        for (f, emb) in self.item_cat.iter().enumerate() {
            parts.push(emb.forward(&cat.narrow(1, f, 1)?.squeeze(1)?)?);
        }
        parts.push(Tensor::from_vec(batch.numeric.clone(), (n, ITEM_NUMERIC), dev)?);
        if let Some(lin) = &self.item_text {
            parts.push(lin.forward(&Tensor::from_vec(batch.text.clone(), (n, self.shape.text_dim), dev)?)?);
        }
        if let Some(lin) = &self.item_image {
            parts.push(lin.forward(&Tensor::from_vec(batch.image.clone(), (n, self.shape.image_dim), dev)?)?);
        }
        if let Some(rows) = self.sparse_rows(TableKind::Item, &batch.ids, uses)? {
            parts.push(rows);
        }
        Ok(self.item_mlp.forward(&Tensor::cat(&parts, 1)?)?)
    }

    /// User vectors (n × dim, unit length) for a batch.
    pub(crate) fn users_forward(
        &self,
        batch: &UserBatch,
        catalogue: &Catalogue,
        mut uses: Option<&mut Vec<SparseUse>>,
    ) -> Result<Tensor> {
        let n = batch.len;
        let dev = &self.device;
        let mut parts = Vec::with_capacity(5);
        let dept = Tensor::from_vec(batch.department.clone(), n, dev)?;
        parts.push(self.department.forward(&dept)?);
        parts.push(Tensor::from_vec(batch.numeric.clone(), (n, USER_NUMERIC), dev)?);
        if let Some(lin) = &self.user_text {
            let pooled = text_pool(catalogue, &batch.history);
            parts.push(lin.forward(&Tensor::from_vec(pooled, (n, catalogue.text_dim), dev)?)?);
        }
        if self.history_ids.is_some() {
            let width = batch.history.iter().map(Vec::len).max().unwrap_or(0).max(1);
            let mut flat: Vec<Option<u32>> = Vec::with_capacity(n * width);
            let mut weights: Vec<f32> = Vec::with_capacity(n * width);
            for h in &batch.history {
                let w = if h.is_empty() { 0.0 } else { 1.0 / h.len() as f32 };
                for k in 0..width {
                    flat.push(h.get(k).copied());
                    weights.push(if k < h.len() { w } else { 0.0 });
                }
            }
            let rows =
                self.sparse_rows(TableKind::History, &flat, uses.as_deref_mut())?.expect("history table present");
            let d = self.config.history_id_dim;
            let weights = Tensor::from_vec(weights, (n, width, 1), dev)?;
            parts.push(rows.reshape((n, width, d))?.broadcast_mul(&weights)?.sum(1)?);
        }
        if let Some(rows) = self.sparse_rows(TableKind::User, &batch.ids, uses)? {
            parts.push(rows);
        }
        Ok(self.user_mlp.forward(&Tensor::cat(&parts, 1)?)?)
    }

    /// Vectors of catalogue offers `indices`, row-major.
    pub fn item_vectors(&self, catalogue: &Catalogue, indices: &[u32]) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(indices.len() * self.config.dim);
        for chunk in indices.chunks(4096) {
            let batch = ItemBatch::from_catalogue(catalogue, chunk, self.shape.items);
            out.extend(self.items_forward(&batch, None)?.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(out)
    }

    /// Vectors of every catalogue offer from its content alone, item ids hidden: where the model puts
    /// an offer it has never seen (the cold-start path, whose main signal is the text embedding).
    pub fn content_item_vectors(&self, catalogue: &Catalogue) -> Result<Vec<f32>> {
        let all: Vec<u32> = (0..catalogue.len() as u32).collect();
        let mut out = Vec::with_capacity(all.len() * self.config.dim);
        for chunk in all.chunks(4096) {
            let batch = ItemBatch::from_catalogue(catalogue, chunk, 0);
            out.extend(self.items_forward(&batch, None)?.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(out)
    }

    /// Vectors of every catalogue offer, row-major.
    pub fn all_item_vectors(&self, catalogue: &Catalogue) -> Result<Vec<f32>> {
        let all: Vec<u32> = (0..catalogue.len() as u32).collect();
        self.item_vectors(catalogue, &all)
    }

    /// Vectors of users, row-major.
    pub fn user_vectors(&self, rows: Vec<UserRow>, catalogue: &Catalogue) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(rows.len() * self.config.dim);
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let batch = UserBatch::from_rows(rows.by_ref().take(2048));
            out.extend(self.users_forward(&batch, catalogue, None)?.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(out)
    }

    /// A snapshot of every parameter, to restore the best epoch.
    pub(crate) fn snapshot(&self) -> Result<Snapshot> {
        let dense = self.dense.iter().map(|(_, v)| v.as_tensor().copy()).collect::<candle_core::Result<_>>()?;
        Ok(Snapshot {
            dense,
            tables: [&self.item_ids, &self.user_ids, &self.history_ids].map(|t| t.as_ref().map(|t| t.data.clone())),
        })
    }

    /// Puts a snapshot back.
    pub(crate) fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        for ((_, var), t) in self.dense.iter().zip(&snapshot.dense) {
            var.set(t)?;
        }
        for (table, data) in
            [&mut self.item_ids, &mut self.user_ids, &mut self.history_ids].into_iter().zip(&snapshot.tables)
        {
            if let (Some(table), Some(data)) = (table.as_mut(), data) {
                table.data.clone_from(data);
            }
        }
        Ok(())
    }

    /// Writes `model.safetensors` and `model.json` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| RetrievalError::file(dir, e))?;
        let mut tensors: HashMap<String, Tensor> =
            self.dense.iter().map(|(name, v)| (name.clone(), v.as_tensor().clone())).collect();
        for (name, table) in [
            ("sparse.item_ids", &self.item_ids),
            ("sparse.user_ids", &self.user_ids),
            ("sparse.history_ids", &self.history_ids),
        ] {
            if let Some(t) = table {
                tensors.insert(name.to_owned(), Tensor::from_vec(t.data.clone(), (t.rows, t.dim), &self.device)?);
            }
        }
        let weights = dir.join("model.safetensors");
        let tmp = dir.join("model.safetensors.tmp");
        candle_core::safetensors::save(&tensors, &tmp)?;
        std::fs::rename(&tmp, &weights).map_err(|e| RetrievalError::file(&weights, e))?;
        let meta = SavedMeta { config: self.config.clone(), shape: self.shape.clone() };
        let json = serde_json::to_string_pretty(&meta).expect("serialisable");
        let path = dir.join("model.json");
        std::fs::write(&path, json).map_err(|e| RetrievalError::file(&path, e))?;
        Ok(())
    }

    /// Reads a model written by [`TwoTower::save`].
    pub fn load(dir: &Path) -> Result<TwoTower> {
        let path = dir.join("model.json");
        let text = std::fs::read_to_string(&path).map_err(|e| RetrievalError::file(&path, e))?;
        let meta: SavedMeta = serde_json::from_str(&text)
            .map_err(|source| RetrievalError::Json { path: path.display().to_string(), source })?;
        let mut rng = <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
        let mut model = TwoTower::new(meta.config, meta.shape, &mut rng)?;
        let weights = dir.join("model.safetensors");
        let mut tensors = candle_core::safetensors::load(&weights, &model.device)?;
        let missing = |name: &str| RetrievalError::Data(format!("{}: no tensor {name}", weights.display()));
        for (name, var) in &model.dense {
            let t = tensors.remove(name).ok_or_else(|| missing(name))?;
            if t.dims() != var.dims() {
                return Err(RetrievalError::Data(format!(
                    "{}: tensor {name} has shape {:?}, the config says {:?}",
                    weights.display(),
                    t.dims(),
                    var.dims()
                )));
            }
            var.set(&t.to_dtype(DType::F32)?)?;
        }
        for (name, table) in [
            ("sparse.item_ids", &mut model.item_ids),
            ("sparse.user_ids", &mut model.user_ids),
            ("sparse.history_ids", &mut model.history_ids),
        ] {
            if let Some(table) = table.as_mut() {
                let t = tensors.remove(name).ok_or_else(|| missing(name))?;
                let (rows, dim) = t.dims2()?;
                *table = SparseTable::from_data(rows, dim, t.flatten_all()?.to_vec1::<f32>()?);
            }
        }
        Ok(model)
    }
}

/// Parameters copied out of a model.
pub(crate) struct Snapshot {
    dense: Vec<Tensor>,
    tables: [Option<Vec<f32>>; 3],
}

#[derive(Serialize, Deserialize)]
struct SavedMeta {
    config: ModelConfig,
    shape: ModelShape,
}

/// The mean text embedding of each history (zeros for an empty one), row-major.
pub fn text_pool(catalogue: &Catalogue, histories: &[Vec<u32>]) -> Vec<f32> {
    let d = catalogue.text_dim;
    let mut out = vec![0f32; histories.len() * d];
    if d == 0 {
        return out;
    }
    out.par_chunks_mut(d).zip(histories.par_iter()).for_each(|(row, h)| {
        if h.is_empty() {
            return;
        }
        for &o in h {
            for (r, x) in row.iter_mut().zip(catalogue.text_of(o as usize)) {
                *r += x;
            }
        }
        let w = 1.0 / h.len() as f32;
        row.iter_mut().for_each(|r| *r *= w);
    });
    out
}
