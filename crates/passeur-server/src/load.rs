//! An open-loop load generator: requests leave at a fixed rate whatever the
//! server's pace (latency counts from the scheduled instant, so a slow server
//! cannot hide its queueing), for a bounded time, over loopback.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::time::{Duration, Instant};

/// One kind of request in a mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `GET /health`: the baseline (routing, HTTP, JSON; no work).
    Health,
    /// `GET /v1/users/{id}/recommendations`.
    Recommendations,
    /// `POST /v1/events`: a consultation or a favourite.
    Event,
}

/// The bytes a path segment cannot carry as they are (RFC 3986): ids are sent percent-encoded.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// An id as one path segment.
pub fn path_segment(id: &str) -> String {
    utf8_percent_encode(id, SEGMENT).to_string()
}

/// A load run's settings.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// Base URLs (`http://127.0.0.1:PORT`): requests go to each in turn (several replicas of one service).
    pub bases: Vec<String>,
    /// An API key with the app scope.
    pub key: String,
    /// Requests per second.
    pub rate: f64,
    /// How long.
    pub duration: Duration,
    /// The mix: kinds with weights.
    pub mix: Vec<(Kind, f64)>,
    /// Users to ask for.
    pub users: Vec<String>,
    /// Offers events refer to.
    pub offers: Vec<String>,
    /// Seed of the choices.
    pub seed: u64,
    /// Stop waiting for a response after this.
    pub timeout: Duration,
}

/// Latency figures of one kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindReport {
    /// The kind.
    pub kind: Kind,
    /// Requests sent.
    pub requests: usize,
    /// Non-2xx answers and transport failures.
    pub errors: usize,
    /// Median, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Worst, ms.
    pub max_ms: f64,
}

/// A run's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadReport {
    /// Requests per second asked for.
    pub target_rate: f64,
    /// Requests completed per second.
    pub achieved_rate: f64,
    /// Seconds from the first send to the last answer.
    pub seconds: f64,
    /// Per kind.
    pub kinds: Vec<KindReport>,
    /// The first few errors, for the log.
    pub sample_errors: Vec<String>,
}

impl LoadReport {
    /// Errors over every kind.
    pub fn errors(&self) -> usize {
        self.kinds.iter().map(|k| k.errors).sum()
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Runs the plan on the current tokio runtime.
pub async fn run(plan: &LoadPlan) -> LoadReport {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(plan.timeout)
        .build()
        .expect("an HTTP client with default TLS settings builds");
    let total = (plan.rate * plan.duration.as_secs_f64()).round() as usize;
    let interval = Duration::from_secs_f64(1.0 / plan.rate);
    let weights: f64 = plan.mix.iter().map(|(_, w)| w).sum();
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    let start = Instant::now() + Duration::from_millis(20);
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let mut pick = rng.random::<f64>() * weights;
        let mut kind = plan.mix[0].0;
        for (k, w) in &plan.mix {
            if pick < *w {
                kind = *k;
                break;
            }
            pick -= w;
        }
        let user = plan.users.choose(&mut rng).cloned().unwrap_or_default();
        let offer = plan.offers.choose(&mut rng).cloned().unwrap_or_default();
        let favourite = rng.random::<f64>() < 0.2;
        let base = &plan.bases[i % plan.bases.len()];
        let request = match kind {
            Kind::Health => client.get(format!("{base}/health")),
            Kind::Recommendations => {
                client.get(format!("{base}/v1/users/{}/recommendations", path_segment(&user))).bearer_auth(&plan.key)
            }
            Kind::Event => {
                let body = serde_json::json!({
                    "id": format!("load-{}-{i}", plan.seed),
                    "kind": if favourite { "favourite" } else { "consultation" },
                    "user_id": user,
                    "offer_id": offer,
                });
                client
                    .post(format!("{base}/v1/events"))
                    .bearer_auth(&plan.key)
                    .header("content-type", "application/json")
                    .body(body.to_string())
            }
        };
        let at = start + interval * i as u32;
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            let outcome = match request.send().await {
                Ok(r) if r.status().is_success() => {
                    let _ = r.bytes().await;
                    Ok(())
                }
                Ok(r) => {
                    let status = r.status();
                    Err(format!("{status}: {}", r.text().await.unwrap_or_default()))
                }
                Err(e) => Err(e.to_string()),
            };
            (kind, at.elapsed().as_secs_f64() * 1e3, outcome, Instant::now())
        }));
    }
    let mut by_kind: Vec<(Kind, Vec<f64>, usize)> = Vec::new();
    let mut sample_errors = Vec::new();
    let mut last = start;
    let mut done = 0usize;
    for t in tasks {
        let Ok((kind, ms, outcome, finished)) = t.await else { continue };
        done += 1;
        last = last.max(finished);
        let entry = match by_kind.iter_mut().position(|(k, _, _)| *k == kind) {
            Some(i) => &mut by_kind[i],
            None => {
                by_kind.push((kind, Vec::new(), 0));
                by_kind.last_mut().expect("just pushed")
            }
        };
        entry.1.push(ms);
        if let Err(e) = outcome {
            entry.2 += 1;
            if sample_errors.len() < 5 {
                sample_errors.push(e);
            }
        }
    }
    let seconds = last.saturating_duration_since(start).as_secs_f64().max(1e-9);
    let kinds = by_kind
        .into_iter()
        .map(|(kind, mut ms, errors)| {
            ms.sort_by(f64::total_cmp);
            KindReport {
                kind,
                requests: ms.len(),
                errors,
                p50_ms: percentile(&ms, 0.50),
                p90_ms: percentile(&ms, 0.90),
                p99_ms: percentile(&ms, 0.99),
                max_ms: ms.last().copied().unwrap_or(0.0),
            }
        })
        .collect();
    LoadReport { target_rate: plan.rate, achieved_rate: done as f64 / seconds, seconds, kinds, sample_errors }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn ids_are_sent_as_one_path_segment() {
        assert_eq!(super::path_segment("U0000001"), "U0000001");
        assert_eq!(super::path_segment("u-1_x.y~z"), "u-1_x.y~z");
        assert_eq!(super::path_segment("a/b?c#d e%"), "a%2Fb%3Fc%23d%20e%25");
        assert_eq!(super::path_segment("élève"), "%C3%A9l%C3%A8ve");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
