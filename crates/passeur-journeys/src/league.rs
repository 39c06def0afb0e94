//! The policies a study compares, named in a TOML file (`leagues/default.toml`).
//!
//! A policy is a set of the service's own settings: the order (the objective with its λ, retrieval,
//! tops, random), the mixing (none, round-robin, MMR, DPP), the category cap, a discover slot, and the
//! exploration of lists. The study installs them in the serving engine; nothing of the policy is
//! reimplemented here.

use crate::error::{JourneyError, Result};
use passeur_ranking::{BookingFloor, Mixing, Order, RankConfig};
use passeur_server::config::ExplorationConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One policy of the league: overrides of the service's `[ranking]` and `[exploration]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// The name in tables.
    pub name: String,
    /// What orders the candidates (the service's when absent).
    #[serde(default)]
    pub order: Option<Order>,
    /// λ of the objective (the service's when absent).
    #[serde(default)]
    pub lambda: Option<f64>,
    /// The mixing (the service's when absent).
    #[serde(default)]
    pub mixing: Option<Mixing>,
    /// Largest share of a list one category may take (the service's when absent).
    #[serde(default)]
    pub max_category_share: Option<f64>,
    /// Position of the discover slot (none when absent).
    #[serde(default)]
    pub discover_slot: Option<usize>,
    /// A booking floor: λ chosen per list (when absent: none if the policy names its λ, else the service's).
    #[serde(default)]
    pub booking_floor: Option<BookingFloor>,
    /// Exploration of the lists (the service's when absent).
    #[serde(default)]
    pub exploration: Option<ExplorationConfig>,
}

impl PolicySpec {
    /// The service's own settings, unchanged.
    pub fn service(name: &str) -> PolicySpec {
        PolicySpec {
            name: name.to_owned(),
            order: None,
            lambda: None,
            mixing: None,
            max_category_share: None,
            discover_slot: None,
            booking_floor: None,
            exploration: None,
        }
    }

    /// The ranking settings of this policy over the service's `base`.
    pub fn rank_config(&self, base: &RankConfig) -> Result<RankConfig> {
        let mut config = base.clone();
        if let Some(order) = self.order {
            config.order = order;
        }
        if let Some(lambda) = self.lambda {
            config.lambda = lambda;
        }
        if let Some(mixing) = self.mixing {
            config.mixing = mixing;
        }
        if let Some(share) = self.max_category_share {
            config.max_category_share = share;
        }
        config.discover_slot = self.discover_slot.or(base.discover_slot);
        // A policy that names its λ means that λ: the service's booking floor (which would choose λ per
        // list) applies only to policies that name neither.
        if self.booking_floor.is_some() || self.lambda.is_some() {
            config.booking_floor.clone_from(&self.booking_floor);
        }
        config
            .validate()
            .map_err(|e| JourneyError::Config { field: format!("policy {:?}", self.name), reason: e.to_string() })?;
        Ok(config)
    }
}

/// The league: its policies, and the one the others are compared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct League {
    /// The reference policy's name (the ranker at λ = 0: what pass Culture serves since 2024).
    pub baseline: String,
    /// The policies, in table order.
    #[serde(rename = "policy")]
    pub policies: Vec<PolicySpec>,
}

impl League {
    /// The league of `leagues/default.toml`, compiled in.
    pub fn default_league() -> League {
        League::parse(include_str!("../leagues/default.toml")).expect("the default league is valid")
    }

    /// Reads a league file.
    pub fn from_file(path: &Path) -> Result<League> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| JourneyError::File { file: file.clone(), reason: e.to_string() })?;
        League::parse(&text).map_err(|reason| JourneyError::File { file, reason })
    }

    /// Parses and checks a league: names unique, the baseline among them.
    pub fn parse(text: &str) -> std::result::Result<League, String> {
        let league: League = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        for (i, p) in league.policies.iter().enumerate() {
            if league.policies[..i].iter().any(|q| q.name == p.name) {
                return Err(format!("policy {:?} is named twice", p.name));
            }
            p.rank_config(&RankConfig::default()).map_err(|e| e.to_string())?;
        }
        if !league.policies.iter().any(|p| p.name == league.baseline) {
            return Err(format!("baseline {:?} is not one of the policies", league.baseline));
        }
        Ok(league)
    }

    /// Keeps the named policies (and the baseline), in league order; an unknown name is an error.
    pub fn only(mut self, names: &[String]) -> Result<League> {
        for n in names {
            if !self.policies.iter().any(|p| &p.name == n) {
                return Err(JourneyError::Config {
                    field: "policies".into(),
                    reason: format!("{n:?} is not in the league ({})", self.names().join(", ")),
                });
            }
        }
        let baseline = self.baseline.clone();
        self.policies.retain(|p| p.name == baseline || names.contains(&p.name));
        Ok(self)
    }

    /// The policies' names.
    pub fn names(&self) -> Vec<String> {
        self.policies.iter().map(|p| p.name.clone()).collect()
    }
}
