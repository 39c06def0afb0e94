//! The service's configuration: one TOML file (every key optional, defaults
//! documented in `passeur.toml` at the repository root), each top-level key
//! overridable by an environment variable `PASSEUR_<KEY>` (e.g.
//! `PASSEUR_LISTEN=0.0.0.0:8080`, `PASSEUR_LAMBDA=2`), validated at start.

use crate::error::{Result, ServerError};
use passeur_ranking::RankConfig;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Which clock stamps requests and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockKind {
    /// The machine's clock.
    System,
    /// The latest event in the store at start, advancing with the machine's clock: a recorded or
    /// synthetic world (the demo's) is served as if it were live.
    Store,
    /// The latest event in the store at start, standing still: every request is answered at that
    /// instant (reproducible lists; `passeur simulate journeys` moves such a clock day by day).
    Frozen,
}

/// Every setting of `passeur serve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Most events in one batch.
    pub max_batch_events: usize,
    /// Request and event clock.
    pub clock: ClockKind,
    /// Default list length of recommendations (the `limit` parameter overrides it, up to `ranking.list_len`).
    pub default_limit: usize,
    /// Default radius around the user, in km (the `radius_km` parameter overrides it).
    pub radius_km: f64,
    /// Diversification rules: `deck`, `weighted` or a rules TOML file.
    pub rules: String,
    /// Playlists file; empty is the built-in playlists.
    pub playlists: String,
    /// Directory of the sentence-transformers model that embeds new offers' texts; relative paths are
    /// taken from the working directory. Empty: new offers get no text embedding.
    pub text_model_dir: String,
    /// Record every served list as impressions.
    pub log_impressions: bool,
    /// Seconds between refreshes of the popularity sources (tops, trends, department tops).
    pub popularity_refresh_s: u64,
    /// Most writes folded into one commit.
    pub group_commit_max: usize,
    /// Worker threads of the HTTP runtime (0: one per core).
    pub worker_threads: usize,
    /// In-memory IVF: partitions probed per query.
    pub index_nprobe: usize,
    /// In-memory IVF: filtered queries whose selective filter leaves at most this many offers are exact.
    pub index_exact_below: usize,
    /// Offers on the inspector's t-SNE map of the item space (a seeded sample, computed once).
    pub map_points: usize,
    /// The ranking stage: λ, list shape, mixing, candidate sources.
    pub ranking: RankConfig,
    /// Exploration of recommendation lists, with logged propensities.
    pub exploration: ExplorationConfig,
}

/// How recommendation lists explore around the ranker's order (see `passeur_ope::slate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExplorationConfig {
    /// Plackett-Luce temperature over the objective's scores; 0: the ranker's order.
    pub temperature: f64,
    /// Probability of a uniform draw at `epsilon_positions`.
    pub epsilon: f64,
    /// Positions (0 = top) where the ε-uniform draw applies.
    pub epsilon_positions: Vec<usize>,
    /// Share of lists drawn uniformly from the candidates.
    pub shuffle_share: f64,
    /// The ranked offers a list is drawn from (the top of the ranker's order).
    pub candidates: usize,
    /// Seed of the draws; each list's seed derives from it and the call id, and is logged.
    pub seed: u64,
}

impl Default for ExplorationConfig {
    fn default() -> Self {
        ExplorationConfig {
            temperature: 0.0,
            epsilon: 0.0,
            epsilon_positions: Vec::new(),
            shuffle_share: 0.0,
            candidates: 50,
            seed: 42,
        }
    }
}

impl ExplorationConfig {
    /// The list policy.
    pub fn policy(&self) -> passeur_ope::Exploration {
        passeur_ope::Exploration {
            temperature: self.temperature,
            epsilon: self.epsilon,
            epsilon_positions: self.epsilon_positions.clone(),
            shuffle_share: self.shuffle_share,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 1 << 20,
            max_batch_events: 1000,
            clock: ClockKind::System,
            default_limit: 20,
            radius_km: 30.0,
            rules: "deck".into(),
            playlists: String::new(),
            text_model_dir: "models/multilingual-e5-small".into(),
            log_impressions: true,
            popularity_refresh_s: 60,
            group_commit_max: 512,
            worker_threads: 0,
            index_nprobe: 24,
            index_exact_below: 30_000,
            map_points: 1000,
            // The league's winner (`passeur simulate journeys`): the objective with λ chosen per list by a
            // booking floor at 95 %, no mixing, no category cap.
            ranking: RankConfig {
                mixing: passeur_ranking::Mixing::None,
                max_category_share: 1.0,
                booking_floor: Some(passeur_ranking::BookingFloor::default()),
                ..RankConfig::default()
            },
            exploration: ExplorationConfig::default(),
        }
    }
}

/// Environment variables are `PASSEUR_` + the key in capitals.
pub const ENV_PREFIX: &str = "PASSEUR_";

impl ServerConfig {
    /// Reads `path` (when given), applies the environment's overrides, validates.
    pub fn load(path: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<ServerConfig> {
        let (text, origin) = match path {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|e| ServerError::Config(format!("{}: {e}", p.display())))?,
                p.display().to_string(),
            ),
            None => (String::new(), "defaults".to_owned()),
        };
        let mut table: toml::Table =
            toml::from_str(&text).map_err(|e| ServerError::Config(format!("{origin}: {}", e.message())))?;
        let keys: Vec<String> = match toml::Value::try_from(ServerConfig::default()) {
            Ok(toml::Value::Table(t)) => t.keys().cloned().collect(),
            _ => Vec::new(),
        };
        let mut overridden = Vec::new();
        for (name, value) in env {
            let Some(key) = name.strip_prefix(ENV_PREFIX).map(str::to_lowercase) else { continue };
            if !keys.contains(&key) {
                continue;
            }
            // A value is read as TOML (numbers, booleans, inline tables), else taken as a string.
            let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or(toml::Value::String(value));
            table.insert(key.clone(), parsed);
            overridden.push(name);
        }
        // Parsed from text again so that an error points at its key and line.
        let merged = toml::to_string(&table).map_err(|e| ServerError::Config(format!("{origin}: {e}")))?;
        let config: ServerConfig = toml::from_str(&merged).map_err(|e| {
            let from =
                if overridden.is_empty() { origin.clone() } else { format!("{origin} + {}", overridden.join(", ")) };
            ServerError::Config(format!("{from}: {}", e.to_string().trim()))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The listening address.
    pub fn address(&self) -> Result<SocketAddr> {
        self.listen
            .parse()
            .map_err(|e| ServerError::Config(format!("listen: {:?} is not an address: {e}", self.listen)))
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, reason: String| Err(ServerError::Config(format!("{field}: {reason}")));
        self.address()?;
        if !(1024..=(64 << 20)).contains(&self.max_body_bytes) {
            return bad("max_body_bytes", format!("{} is not between 1024 and 64 MiB", self.max_body_bytes));
        }
        if !(1..=100_000).contains(&self.max_batch_events) {
            return bad("max_batch_events", format!("{} is not between 1 and 100000", self.max_batch_events));
        }
        if self.default_limit == 0 || self.default_limit > self.ranking.list_len {
            return bad(
                "default_limit",
                format!("{} is not between 1 and ranking.list_len ({})", self.default_limit, self.ranking.list_len),
            );
        }
        if !(self.radius_km.is_finite() && self.radius_km > 0.0) {
            return bad("radius_km", format!("{} is not a positive distance", self.radius_km));
        }
        if self.popularity_refresh_s == 0 {
            return bad("popularity_refresh_s", "must be at least 1".into());
        }
        if !(1..=100_000).contains(&self.group_commit_max) {
            return bad("group_commit_max", format!("{} is not between 1 and 100000", self.group_commit_max));
        }
        if !(10..=5_000).contains(&self.map_points) {
            return bad("map_points", format!("{} is not between 10 and 5000", self.map_points));
        }
        if self.index_nprobe == 0 {
            return bad("index_nprobe", "must be at least 1".into());
        }
        self.ranking.validate().map_err(|e| match e {
            passeur_ranking::RankingError::Config { field, reason } => {
                ServerError::Config(format!("ranking.{field}: {reason}"))
            }
            other => ServerError::Config(format!("ranking: {other}")),
        })?;
        self.exploration.policy().validate().map_err(|e| match e {
            passeur_ope::OpeError::BadInput { field, reason } => {
                ServerError::Config(format!("exploration.{field}: {reason}"))
            }
            other => ServerError::Config(format!("exploration: {other}")),
        })?;
        if self.exploration.candidates == 0 {
            return bad("exploration.candidates", "must be at least 1".into());
        }
        self.diversification_rules()?;
        self.playlist_config()?;
        Ok(())
    }

    /// The diversification rules named by `rules`.
    pub fn diversification_rules(&self) -> Result<passeur_diversity::DiversificationRules> {
        match passeur_diversity::DiversificationRules::builtin(&self.rules) {
            Some(r) => Ok(r),
            None => passeur_diversity::DiversificationRules::load(Path::new(&self.rules))
                .map_err(|e| ServerError::Config(format!("rules: {e}"))),
        }
    }

    /// The playlists named by `playlists`.
    pub fn playlist_config(&self) -> Result<passeur_index::playlist::PlaylistConfig> {
        if self.playlists.is_empty() {
            return Ok(passeur_index::playlist::PlaylistConfig::builtin());
        }
        passeur_index::playlist::PlaylistConfig::load(Path::new(&self.playlists))
            .map_err(|e| ServerError::Config(format!("playlists: {e}")))
    }

    /// The text model directory, when set.
    pub fn text_model(&self) -> Option<PathBuf> {
        (!self.text_model_dir.is_empty()).then(|| PathBuf::from(&self.text_model_dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_documented_file_is_the_defaults() {
        let path = Path::new(
            &std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR when it runs tests"),
        )
        .join("../../passeur.toml");
        let config = ServerConfig::load(Some(&path), Vec::new()).unwrap();
        assert_eq!(config, ServerConfig::default());
    }

    #[test]
    fn environment_overrides_the_file_and_is_typed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\nradius_km = 12.0\n").unwrap();
        let config = ServerConfig::load(
            Some(&path),
            env(&[("PASSEUR_RADIUS_KM", "45"), ("PASSEUR_CLOCK", "store"), ("PASSEUR_DATA_DIR", "elsewhere")]),
        )
        .unwrap();
        assert_eq!(config.listen, "127.0.0.1:9000");
        assert_eq!(config.radius_km, 45.0);
        assert_eq!(config.clock, ClockKind::Store);
    }

    #[test]
    fn errors_name_the_field() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case<'_>] = &[
            ("radius_km = -3.0", &[], "radius_km"),
            ("listen = \"nowhere\"", &[], "listen"),
            ("lamda = 2.0", &[], "lamda"),
            ("[ranking]\nlambda = -1.0", &[], "ranking.lambda"),
            ("", &[("PASSEUR_MAX_BODY_BYTES", "ten")], "PASSEUR_MAX_BODY_BYTES"),
            ("", &[("PASSEUR_DEFAULT_LIMIT", "0")], "default_limit"),
            ("rules = \"no-such-rules.toml\"", &[], "rules"),
            ("clock = \"sundial\"", &[], "clock"),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (text, vars, field) in cases {
            let path = dir.path().join("c.toml");
            std::fs::write(&path, text).unwrap();
            let err = ServerConfig::load(Some(&path), env(vars)).unwrap_err().to_string();
            assert!(err.contains(field), "{text:?} {vars:?}: {err}");
        }
    }
}
