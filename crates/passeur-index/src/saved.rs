//! Centroids saved beside a model, so that an index over the same offers is
//! rebuilt without its k-means: a service's start, where training the
//! partitions is most of the index's cost (5.3 s of the medium world's 12.8 s).

use crate::{IndexedOffer, IvfIndex, IvfParams, Result};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

const MAGIC: &[u8; 8] = b"PIVFCEN1";

/// What the centroids were trained on: the offers' ids and vectors in order,
/// the dimension and the k-means parameters. Any change gives another key.
fn key(dim: usize, offers: &[IndexedOffer], params: &IvfParams) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(MAGIC);
    for n in [dim as u64, offers.len() as u64, params.partitions as u64, params.iterations as u64, params.seed] {
        h.update(n.to_le_bytes());
    }
    for o in offers {
        h.update((o.offer_id.len() as u64).to_le_bytes());
        h.update(o.offer_id.as_bytes());
        for x in &o.vector {
            h.update(x.to_le_bytes());
        }
    }
    h.finalize().into()
}

fn read(path: &Path, key: &[u8; 32], dim: usize) -> Option<Vec<f32>> {
    let bytes = std::fs::read(path).ok()?;
    let body = bytes.strip_prefix(MAGIC.as_slice())?.strip_prefix(key.as_slice())?;
    if body.is_empty() || !body.len().is_multiple_of(4 * dim.max(1)) {
        return None;
    }
    Some(body.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

fn write(path: &Path, key: &[u8; 32], centroids: &[f32]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        f.write_all(MAGIC)?;
        f.write_all(key)?;
        for x in centroids {
            f.write_all(&x.to_le_bytes())?;
        }
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

impl IvfIndex {
    /// Builds the index, on the centroids saved at `path` when they were
    /// trained on these very offers (ids and vectors, in order) with these
    /// parameters — the same index as [`IvfIndex::build`], without the
    /// k-means — else trains them and saves them there (a failed save is
    /// logged and changes nothing). Returns the index and whether the saved
    /// centroids were used.
    pub fn build_saved(
        dim: usize,
        offers: &[IndexedOffer],
        params: IvfParams,
        path: &Path,
    ) -> Result<(IvfIndex, bool)> {
        let key = key(dim, offers, &params);
        if let Some(centroids) = read(path, &key, dim) {
            return Ok((IvfIndex::build_with_centroids(dim, offers, params, centroids)?, true));
        }
        let index = IvfIndex::build(dim, offers, params)?;
        if let Err(e) = write(path, &key, index.centroids()) {
            tracing::warn!(path = %path.display(), error = %e, "could not save the index's centroids");
        }
        Ok((index, false))
    }
}
