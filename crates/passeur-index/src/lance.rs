//! The LanceDB backend: an offers table in the data directory with the item
//! vectors and every filter column; exact search below a size threshold, an
//! IVF-PQ or IVF-HNSW-SQ index (dot metric) above it, scalar indexes on the
//! filter columns.
//!
//! The trap: Lance compares the query's metric with the index's; on a
//! mismatch it silently falls back to brute force (a warning in its log),
//! and a query without a metric takes the index's. Both the index and every
//! query here say `Dot` explicitly, and a test checks the plan uses the index.

use crate::error::{IndexError, Result};
use crate::filter::{Filters, near_ok};
use crate::record::IndexedOffer;
use crate::{Hit, VectorIndex};
use arrow_array::{
    Array, ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    RecordBatchIterator, RecordBatchReader, StringArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::TryStreamExt;
use lancedb::index::Index;
use lancedb::index::scalar::{BTreeIndexBuilder, BitmapIndexBuilder};
use lancedb::index::vector::{IvfHnswSqIndexBuilder, IvfPqIndexBuilder};
use lancedb::query::{ExecutableQuery, QueryBase, Select};
use lancedb::table::OptimizeAction;
use lancedb::{DistanceType, Table};
use passeur_domain::GeoPoint;
use std::path::Path;
use std::sync::Arc;

const TABLE: &str = "offers";

/// Which approximate index LanceDB builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnKind {
    /// Inverted file with product quantisation (refined with exact distances).
    IvfPq,
    /// Inverted file whose partitions are HNSW graphs over scalar-quantised vectors.
    IvfHnswSq,
}

/// Settings of the LanceDB backend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LanceParams {
    /// The approximate index built once the table is large enough.
    pub ann: AnnKind,
    /// Below this many offers, search is exact (no vector index).
    pub exact_below: usize,
    /// IVF partitions; 0 picks about √n.
    pub partitions: u32,
    /// PQ sub-vectors (IVF-PQ).
    pub sub_vectors: u32,
    /// Partitions probed at least.
    pub nprobes: usize,
    /// Candidates re-scored with full vectors, as a multiple of k (both index kinds quantise).
    pub refine_factor: u32,
    /// HNSW search breadth (IVF-HNSW).
    pub ef: usize,
}

impl Default for LanceParams {
    fn default() -> Self {
        LanceParams {
            ann: AnnKind::IvfPq,
            exact_below: 20_000,
            partitions: 0,
            sub_vectors: 16,
            nprobes: 32,
            refine_factor: 10,
            ef: 128,
        }
    }
}

/// Offers in an embedded LanceDB table.
pub struct LanceIndex {
    rt: tokio::runtime::Runtime,
    table: Table,
    dim: usize,
    params: LanceParams,
}

fn schema(dim: usize) -> SchemaRef {
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    Arc::new(Schema::new(vec![
        Field::new("offer_id", DataType::Utf8, false),
        Field::new("item_id", DataType::Utf8, false),
        Field::new("vector", DataType::FixedSizeList(item, dim as i32), false),
        Field::new("category", DataType::Utf8, false),
        Field::new("subcategory", DataType::Utf8, false),
        Field::new("format", DataType::Utf8, false),
        Field::new("price_cents", DataType::Int64, false),
        Field::new("bookable_from", DataType::Int64, true),
        Field::new("bookable_until", DataType::Int64, true),
        Field::new("event_start", DataType::Int64, true),
        Field::new("stock", DataType::Int64, true),
        Field::new("latitude", DataType::Float64, true),
        Field::new("longitude", DataType::Float64, true),
        Field::new("digital", DataType::Boolean, false),
        Field::new("min_age", DataType::Int32, false),
        Field::new("created_at", DataType::Int64, false),
        Field::new("department", DataType::Utf8, true),
        Field::new("popularity", DataType::Int64, false),
    ]))
}

fn to_batch(dim: usize, offers: &[IndexedOffer]) -> Result<RecordBatch> {
    let schema = schema(dim);
    let strings = |f: &dyn Fn(&IndexedOffer) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(offers.iter().map(f)))
    };
    let ints = |f: &dyn Fn(&IndexedOffer) -> Option<i64>| -> ArrayRef {
        Arc::new(Int64Array::from_iter(offers.iter().map(f)))
    };
    let mut values = Vec::with_capacity(offers.len() * dim);
    for o in offers {
        o.check(dim)?;
        values.extend_from_slice(&o.vector);
    }
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    let vectors: ArrayRef =
        Arc::new(FixedSizeListArray::try_new(item, dim as i32, Arc::new(Float32Array::from(values)), None)?);
    let columns: Vec<ArrayRef> = vec![
        strings(&|o| &o.offer_id),
        strings(&|o| &o.item_id),
        vectors,
        strings(&|o| &o.category),
        strings(&|o| &o.subcategory),
        strings(&|o| &o.format),
        ints(&|o| Some(o.price_cents)),
        ints(&|o| o.bookable_from),
        ints(&|o| o.bookable_until),
        ints(&|o| o.event_start),
        ints(&|o| o.stock),
        Arc::new(Float64Array::from_iter(offers.iter().map(|o| o.location.map(|l| l.lat)))),
        Arc::new(Float64Array::from_iter(offers.iter().map(|o| o.location.map(|l| l.lon)))),
        Arc::new(BooleanArray::from_iter(offers.iter().map(|o| Some(o.digital)))),
        Arc::new(Int32Array::from_iter(offers.iter().map(|o| Some(i32::from(o.min_age))))),
        ints(&|o| Some(o.created_at)),
        Arc::new(StringArray::from_iter(offers.iter().map(|o| o.department.as_deref()))),
        ints(&|o| Some(o.popularity)),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

fn reader(dim: usize, offers: &[IndexedOffer]) -> Result<Box<dyn RecordBatchReader + Send>> {
    let schema = schema(dim);
    let mut batches = Vec::new();
    for chunk in offers.chunks(100_000) {
        batches.push(Ok(to_batch(dim, chunk)?));
    }
    Ok(Box::new(RecordBatchIterator::new(batches, schema)))
}

const RESULT_COLUMNS: [&str; 9] =
    ["offer_id", "item_id", "category", "latitude", "longitude", "digital", "popularity", "created_at", "event_start"];

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| IndexError::BadQuery { field: "result", reason: format!("LanceDB returned no column {name}") })
}

fn hits_of(batches: &[RecordBatch], distance: bool) -> Result<Vec<Hit>> {
    let mut out = Vec::new();
    for b in batches {
        let offer = column::<StringArray>(b, "offer_id")?;
        let item = column::<StringArray>(b, "item_id")?;
        let category = column::<StringArray>(b, "category")?;
        let lat = column::<Float64Array>(b, "latitude")?;
        let lon = column::<Float64Array>(b, "longitude")?;
        let digital = column::<BooleanArray>(b, "digital")?;
        let popularity = column::<Int64Array>(b, "popularity")?;
        let created = column::<Int64Array>(b, "created_at")?;
        let event = column::<Int64Array>(b, "event_start")?;
        let dist = if distance { Some(column::<Float32Array>(b, "_distance")?) } else { None };
        for i in 0..b.num_rows() {
            out.push(Hit {
                offer_id: offer.value(i).to_owned(),
                item_id: item.value(i).to_owned(),
                // Lance's dot "distance" is 1 − dot.
                score: dist.map_or(popularity.value(i) as f32, |d| 1.0 - d.value(i)),
                category: category.value(i).to_owned(),
                location: (!lat.is_null(i) && !lon.is_null(i))
                    .then(|| GeoPoint { lat: lat.value(i), lon: lon.value(i) }),
                digital: digital.value(i),
                popularity: popularity.value(i),
                created_at: created.value(i),
                event_start: (!event.is_null(i)).then(|| event.value(i)),
            });
        }
    }
    Ok(out)
}

impl LanceIndex {
    fn runtime() -> Result<tokio::runtime::Runtime> {
        Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
    }

    /// Opens the index in `dir`, or creates an empty one.
    pub fn open(dir: &Path, dim: usize, params: LanceParams) -> Result<LanceIndex> {
        let rt = Self::runtime()?;
        let uri = dir.display().to_string();
        let table = rt.block_on(async {
            let db = lancedb::connect(&uri).execute().await?;
            if db.table_names().execute().await?.iter().any(|t| t == TABLE) {
                db.open_table(TABLE).execute().await
            } else {
                db.create_empty_table(TABLE, schema(dim)).execute().await
            }
        })?;
        let stored = rt.block_on(table.schema())?;
        if let Ok(f) = stored.field_with_name("vector")
            && let DataType::FixedSizeList(_, n) = f.data_type()
            && *n as usize != dim
        {
            return Err(IndexError::BadQuery {
                field: "dim",
                reason: format!("the index in {uri} holds {n}-dimension vectors, not {dim}: rebuild it"),
            });
        }
        Ok(LanceIndex { rt, table, dim, params })
    }

    /// (Re)builds the index in `dir` from `offers`: the table, scalar indexes,
    /// and the vector index when there are at least `exact_below` offers.
    pub fn build(dir: &Path, dim: usize, offers: &[IndexedOffer], params: LanceParams) -> Result<LanceIndex> {
        let rt = Self::runtime()?;
        let uri = dir.display().to_string();
        let data = reader(dim, offers)?;
        let table = rt.block_on(async {
            let db = lancedb::connect(&uri).execute().await?;
            db.create_table(TABLE, data).mode(lancedb::database::CreateTableMode::Overwrite).execute().await
        })?;
        let mut index = LanceIndex { rt, table, dim, params };
        index.create_indexes(offers.len())?;
        Ok(index)
    }

    fn create_indexes(&mut self, rows: usize) -> Result<()> {
        let table = &self.table;
        let params = self.params;
        self.rt.block_on(async {
            for c in ["offer_id", "price_cents", "event_start", "created_at", "latitude", "longitude"] {
                table.create_index(&[c], Index::BTree(BTreeIndexBuilder::default())).execute().await?;
            }
            for c in ["category", "department", "min_age", "digital"] {
                table.create_index(&[c], Index::Bitmap(BitmapIndexBuilder::default())).execute().await?;
            }
            if rows >= params.exact_below {
                let partitions = if params.partitions == 0 {
                    ((rows as f64).sqrt() as u32).clamp(1, 4096)
                } else {
                    params.partitions
                };
                let index = match params.ann {
                    AnnKind::IvfPq => Index::IvfPq(
                        IvfPqIndexBuilder::default()
                            .distance_type(DistanceType::Dot)
                            .num_partitions(partitions)
                            .num_sub_vectors(params.sub_vectors),
                    ),
                    AnnKind::IvfHnswSq => Index::IvfHnswSq(
                        IvfHnswSqIndexBuilder::default()
                            .distance_type(DistanceType::Dot)
                            .num_partitions(partitions.div_ceil(16).max(1)),
                    ),
                };
                table.create_index(&["vector"], index).execute().await?;
            }
            Ok::<(), lancedb::Error>(())
        })?;
        Ok(())
    }

    /// True when the table has a vector index (else every search is exact).
    pub fn has_vector_index(&self) -> Result<bool> {
        let indices = self.rt.block_on(self.table.list_indices())?;
        Ok(indices.iter().any(|i| i.columns.iter().any(|c| c == "vector")))
    }

    /// The query plan of a search, to check which index it uses.
    pub fn explain(&self, vector: &[f32], filters: &Filters, k: usize) -> Result<String> {
        let query = self.vector_query(vector, filters, k)?;
        Ok(self.rt.block_on(query.explain_plan(true))?)
    }

    /// Changes query-time settings (probes, refinement, HNSW breadth).
    pub fn set_query_params(&mut self, nprobes: usize, refine_factor: u32, ef: usize) {
        self.params.nprobes = nprobes.max(1);
        self.params.refine_factor = refine_factor;
        self.params.ef = ef.max(1);
    }

    fn vector_query(&self, vector: &[f32], filters: &Filters, fetch: usize) -> Result<lancedb::query::VectorQuery> {
        let mut q = self
            .table
            .query()
            .nearest_to(vector)?
            .column("vector")
            .distance_type(DistanceType::Dot)
            .limit(fetch)
            .select(Select::columns(&RESULT_COLUMNS));
        if let Some(sql) = filters.to_sql() {
            q = q.only_if(sql);
        }
        let ann = self.rt.block_on(self.table.list_indices())?.iter().any(|i| i.columns.iter().any(|c| c == "vector"));
        if ann {
            q = q
                .minimum_nprobes(self.params.nprobes)?
                .ef(self.params.ef.max(fetch * self.params.refine_factor.max(1) as usize));
            if self.params.refine_factor > 0 {
                q = q.refine_factor(self.params.refine_factor);
            }
        } else {
            q = q.bypass_vector_index();
        }
        Ok(q)
    }
}

fn sort_hits(hits: &mut [Hit]) {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.offer_id.cmp(&b.offer_id)));
}

impl VectorIndex for LanceIndex {
    fn name(&self) -> String {
        let ann = self.has_vector_index().unwrap_or(false);
        match (ann, self.params.ann) {
            (false, _) => "lancedb exact".into(),
            (true, AnnKind::IvfPq) => {
                format!("lancedb IVF-PQ (nprobes {}, refine {})", self.params.nprobes, self.params.refine_factor)
            }
            (true, AnnKind::IvfHnswSq) => {
                format!("lancedb IVF-HNSW-SQ (nprobes {}, ef {})", self.params.nprobes, self.params.ef)
            }
        }
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> Result<usize> {
        Ok(self.rt.block_on(self.table.count_rows(None))?)
    }

    fn upsert(&mut self, offers: &[IndexedOffer]) -> Result<()> {
        if offers.is_empty() {
            return Ok(());
        }
        let data = reader(self.dim, offers)?;
        let mut merge = self.table.merge_insert(&["offer_id"]);
        merge.when_matched_update_all(None).when_not_matched_insert_all();
        self.rt.block_on(merge.execute(data))?;
        Ok(())
    }

    fn remove(&mut self, ids: &[String]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let list = ids.iter().map(|s| format!("'{}'", s.replace('\'', "''"))).collect::<Vec<_>>().join(", ");
        self.rt.block_on(self.table.delete(&format!("offer_id IN ({list})")))?;
        Ok(())
    }

    fn search(&self, vector: &[f32], filters: &Filters, k: usize) -> Result<Vec<Hit>> {
        crate::check_query(vector, self.dim)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        // The radius is a bounding box in SQL: fetch more, then apply the exact circle.
        let mut fetch = if filters.near.is_some() { k * 2 + 10 } else { k };
        loop {
            let query = self.vector_query(vector, filters, fetch)?;
            let batches: Vec<RecordBatch> = self.rt.block_on(async { query.execute().await?.try_collect().await })?;
            let raw = hits_of(&batches, true)?;
            let complete = raw.len() < fetch;
            let mut hits: Vec<Hit> = match &filters.near {
                Some(near) => raw.into_iter().filter(|h| near_ok(near, h.digital, h.location)).collect(),
                None => raw,
            };
            if hits.len() >= k || complete || fetch >= 1 << 16 {
                sort_hits(&mut hits);
                hits.truncate(k);
                return Ok(hits);
            }
            fetch *= 4;
        }
    }

    fn scan(&self, filters: &Filters, limit: usize) -> Result<Vec<Hit>> {
        let mut q = self.table.query().select(Select::columns(&RESULT_COLUMNS));
        if let Some(sql) = filters.to_sql() {
            q = q.only_if(sql);
        }
        let batches: Vec<RecordBatch> = self.rt.block_on(async { q.execute().await?.try_collect().await })?;
        let mut hits: Vec<Hit> = hits_of(&batches, false)?;
        if let Some(near) = &filters.near {
            hits.retain(|h| near_ok(near, h.digital, h.location));
        }
        hits.sort_by(|a, b| b.popularity.cmp(&a.popularity).then(a.offer_id.cmp(&b.offer_id)));
        hits.truncate(limit);
        Ok(hits)
    }

    fn optimize(&mut self) -> Result<()> {
        let rows = self.len()?;
        let had = self.has_vector_index()?;
        self.rt.block_on(self.table.optimize(OptimizeAction::All))?;
        if !had && rows >= self.params.exact_below {
            self.create_indexes(rows)?;
        }
        Ok(())
    }
}
