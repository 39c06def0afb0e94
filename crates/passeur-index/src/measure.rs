//! Recall against exact search on the same filters, and latency percentiles.

use crate::VectorIndex;
use crate::error::Result;
use crate::filter::Filters;
use std::time::Instant;

/// One query of a workload.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The query vector.
    pub vector: Vec<f32>,
    /// Its filters.
    pub filters: Filters,
}

/// How a backend did on a workload.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Measured {
    /// The backend.
    pub backend: String,
    /// Cut-off.
    pub k: usize,
    /// Mean share of the exact top k found.
    pub recall: f64,
    /// Queries per second, one thread.
    pub qps: f64,
    /// Median latency, microseconds.
    pub p50_us: f64,
    /// 99th percentile latency, microseconds.
    pub p99_us: f64,
    /// Queries.
    pub queries: usize,
}

/// The exact answers of a workload (offer ids, best first).
pub fn exact_answers(exact: &dyn VectorIndex, probes: &[Probe], k: usize) -> Result<Vec<Vec<String>>> {
    probes
        .iter()
        .map(|p| Ok(exact.search(&p.vector, &p.filters, k)?.into_iter().map(|h| h.offer_id).collect()))
        .collect()
}

/// Runs every probe once on `index` (after `warmup` untimed ones) and compares with `truth`.
pub fn measure(
    index: &dyn VectorIndex,
    probes: &[Probe],
    truth: &[Vec<String>],
    k: usize,
    warmup: usize,
) -> Result<Measured> {
    for p in probes.iter().take(warmup) {
        index.search(&p.vector, &p.filters, k)?;
    }
    let mut latencies = Vec::with_capacity(probes.len());
    let mut recall = 0.0;
    let started = Instant::now();
    for (p, want) in probes.iter().zip(truth) {
        let t = Instant::now();
        let got = index.search(&p.vector, &p.filters, k)?;
        latencies.push(t.elapsed().as_secs_f64() * 1e6);
        if want.is_empty() {
            recall += 1.0;
        } else {
            let found = got.iter().filter(|h| want.contains(&h.offer_id)).count();
            recall += found as f64 / want.len() as f64;
        }
    }
    let total = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let pct = |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0);
    Ok(Measured {
        backend: index.name(),
        k,
        recall: recall / probes.len().max(1) as f64,
        qps: probes.len() as f64 / total.max(1e-9),
        p50_us: pct(0.5),
        p99_us: pct(0.99),
        queries: probes.len(),
    })
}
