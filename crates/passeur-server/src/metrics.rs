//! Prometheus metrics (prometheus-client): requests and latency per route,
//! the models served, the live state's size, the writer's work.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Labels of a request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method.
    pub method: String,
    /// The route's template (`/v1/users/{user_id}/recommendations`).
    pub route: String,
    /// Response status.
    pub status: String,
}

/// Labels of a latency series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// HTTP method.
    pub method: String,
    /// The route's template.
    pub route: String,
}

/// Labels of a served model.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    /// `retrieval` or `ranking`.
    pub kind: String,
    /// Its version.
    pub version: String,
}

type HistogramMaker = fn() -> Histogram;

/// Every metric the service exports.
pub struct Metrics {
    registry: Registry,
    /// Requests by method, route, status.
    pub requests: Family<RequestLabels, Counter>,
    /// Latency by method and route, seconds.
    pub latency: Family<RouteLabels, Histogram, HistogramMaker>,
    /// The models served (value 1).
    pub models: Family<ModelLabels, Gauge>,
    /// Offers in the live state.
    pub offers: Gauge,
    /// Users in the live state.
    pub users: Gauge,
    /// Commits of the writer.
    pub commits: Gauge<u64, AtomicU64>,
    /// Impressions logged.
    pub impressions: Gauge<u64, AtomicU64>,
    /// Impressions the store refused.
    pub impressions_dropped: Gauge<u64, AtomicU64>,
    /// Lists served.
    pub lists: Counter,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 4 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("passeur");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by method, route and status", requests.clone());
        let latency =
            Family::<RouteLabels, Histogram, HistogramMaker>::new_with_constructor(latency_histogram as HistogramMaker);
        registry.register("http_request_duration_seconds", "HTTP request latency by route", latency.clone());
        let models = Family::<ModelLabels, Gauge>::default();
        registry.register("model_info", "Models served (1 per kind and version)", models.clone());
        let offers = Gauge::default();
        registry.register("live_offers", "Offers in the live state", offers.clone());
        let users = Gauge::default();
        registry.register("live_users", "Users in the live state", users.clone());
        let commits = Gauge::<u64, AtomicU64>::default();
        registry.register("store_commits", "Group commits made by the writer", commits.clone());
        let impressions = Gauge::<u64, AtomicU64>::default();
        registry.register("impressions_logged", "Impressions written to the record store", impressions.clone());
        let impressions_dropped = Gauge::<u64, AtomicU64>::default();
        registry.register("impressions_dropped", "Impressions the record store refused", impressions_dropped.clone());
        let lists = Counter::default();
        registry.register("lists_served", "Lists served (recommendations, similar offers, playlists)", lists.clone());
        Metrics { registry, requests, latency, models, offers, users, commits, impressions, impressions_dropped, lists }
    }
}

impl Metrics {
    /// Records one request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status: status.to_string(),
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { method: method.to_owned(), route: route.to_owned() })
            .observe(seconds);
    }

    /// Sets the models served.
    pub fn set_models(&self, retrieval: &str, ranking: &str) {
        self.models.clear();
        for (kind, version) in [("retrieval", retrieval), ("ranking", ranking)] {
            self.models.get_or_create(&ModelLabels { kind: kind.into(), version: version.into() }).set(1);
        }
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        out
    }
}
