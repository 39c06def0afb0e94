//! A trained model as it sits in the data directory: weights, the ids its
//! tables are indexed by, how it was trained, and every user and item vector.

use crate::config::TrainConfig;
use crate::data::{Catalogue, Dataset, SplitKind, UserRow, fold};
use crate::error::{Result, RetrievalError};
use crate::model::TwoTower;
use crate::train::TrainReport;
use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// What a bundle says besides the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleMeta {
    /// Offer ids, in item-table order.
    pub offer_ids: Vec<String>,
    /// User ids, in user-table order.
    pub user_ids: Vec<String>,
    /// Department vocabulary (index 0 unknown).
    pub departments: Vec<String>,
    /// The split trained on.
    pub split: SplitKind,
    /// The text model of the offers' embeddings, if used.
    pub text_model: Option<String>,
    /// Training settings.
    pub train: TrainConfig,
    /// What training did.
    pub report: TrainReport,
    /// A version string: the bundle's creation time and seed.
    pub version: String,
}

/// Saves the model, its metadata, and the vectors of every offer and user
/// (users as of all their events: what the service starts from).
pub fn save_bundle(
    dir: &Path,
    model: &TwoTower,
    catalogue: &Catalogue,
    dataset: &Dataset,
    meta: &BundleMeta,
) -> Result<()> {
    model.save(dir)?;
    let path = dir.join("bundle.json");
    let json = serde_json::to_string(meta).expect("serialisable");
    std::fs::write(&path, json).map_err(|e| RetrievalError::file(&path, e))?;
    let items = model.all_item_vectors(catalogue)?;
    write_vectors(&dir.join("item_vectors.parquet"), "offer_id", &catalogue.offer_ids, &items, model.config.dim)?;
    let rows: Vec<UserRow> = (0..dataset.users.len())
        .map(|u| {
            let state = fold(dataset.initial_credit[u], model.config.history_len, dataset.timelines[u].iter().copied());
            UserRow::from_state(&dataset.users[u], &state, dataset.now, catalogue, Some(u as u32))
        })
        .collect();
    let users = model.user_vectors(rows, catalogue)?;
    let ids: Vec<String> = dataset.users.iter().map(|u| u.id.clone()).collect();
    write_vectors(&dir.join("user_vectors.parquet"), "user_id", &ids, &users, model.config.dim)?;
    Ok(())
}

/// Reads a bundle's model and metadata.
pub fn load_bundle(dir: &Path) -> Result<(TwoTower, BundleMeta)> {
    let model = TwoTower::load(dir)?;
    let path = dir.join("bundle.json");
    let text = std::fs::read_to_string(&path).map_err(|e| RetrievalError::file(&path, e))?;
    let meta: BundleMeta = serde_json::from_str(&text)
        .map_err(|source| RetrievalError::Json { path: path.display().to_string(), source })?;
    Ok((model, meta))
}

/// Checks that a dataset read now indexes offers and users as the bundle's tables do.
pub fn check_same_ids(meta: &BundleMeta, dataset: &Dataset) -> Result<()> {
    if meta.offer_ids != dataset.catalogue.offer_ids {
        return Err(RetrievalError::Data(format!(
            "the store's offers changed since training ({} then, {} now): retrain with `passeur train retrieval`",
            meta.offer_ids.len(),
            dataset.catalogue.len()
        )));
    }
    let users: Vec<&str> = dataset.users.iter().map(|u| u.id.as_str()).collect();
    if meta.user_ids.iter().map(String::as_str).ne(users.iter().copied()) {
        return Err(RetrievalError::Data(format!(
            "the store's users changed since training ({} then, {} now): retrain with `passeur train retrieval`",
            meta.user_ids.len(),
            users.len()
        )));
    }
    Ok(())
}

/// Writes `(id, vector)` rows as Parquet with a fixed-size list column.
pub fn write_vectors(path: &Path, id_column: &str, ids: &[String], vectors: &[f32], dim: usize) -> Result<()> {
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let schema = Arc::new(Schema::new(vec![
        Field::new(id_column, DataType::Utf8, false),
        Field::new("vector", DataType::FixedSizeList(item.clone(), dim as i32), false),
    ]));
    let mut batches = Vec::new();
    for (chunk, values) in ids.chunks(65_536).zip(vectors.chunks(65_536 * dim)) {
        let ids: ArrayRef = Arc::new(StringArray::from_iter_values(chunk));
        let values = Arc::new(Float32Array::from(values.to_vec()));
        let list: ArrayRef = Arc::new(
            FixedSizeListArray::try_new(item.clone(), dim as i32, values, None)
                .map_err(|e| RetrievalError::Data(format!("vector column: {e}")))?,
        );
        batches.push(
            RecordBatch::try_new(schema.clone(), vec![ids, list])
                .map_err(|e| RetrievalError::Data(format!("vector batch: {e}")))?,
        );
    }
    passeur_io::write_record_batches(path, &batches)?;
    Ok(())
}

/// Reads `(ids, row-major vectors, dimension)` written by [`write_vectors`].
pub fn read_vectors(path: &Path) -> Result<(Vec<String>, Vec<f32>, usize)> {
    let bad = |what: &str| RetrievalError::Data(format!("{}: {what}", path.display()));
    let mut ids = Vec::new();
    let mut values = Vec::new();
    let mut dim = 0;
    for batch in passeur_io::read_parquet_batches(path)? {
        let id = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| bad("the first column is not a string id"))?;
        let list = batch
            .column(1)
            .as_any()
            .downcast_ref::<FixedSizeListArray>()
            .ok_or_else(|| bad("the vector column is not a fixed-size list"))?;
        dim = list.value_length() as usize;
        let floats = list
            .values()
            .as_any()
            .downcast_ref::<Float32Array>()
            .ok_or_else(|| bad("vectors are not 32-bit floats"))?;
        ids.extend(id.iter().map(|s| s.unwrap_or_default().to_owned()));
        let offset = list.offset() * dim;
        values.extend_from_slice(&floats.values()[offset..offset + list.len() * dim]);
    }
    Ok((ids, values, dim))
}
