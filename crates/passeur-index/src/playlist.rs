//! Personalised thematic playlists, defined in a TOML file.

use crate::error::{IndexError, Result};
use crate::filter::Filters;
use crate::{Hit, VectorIndex, one_per_item};
use passeur_domain::{CategoryId, GeoPoint};
use serde::Deserialize;
use std::path::Path;

/// What a playlist selects.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PlaylistKind {
    /// Most similar to a given offer.
    SimilarToOffer,
    /// Closest to the user's vector.
    ClosestToUser,
    /// Events starting within `days`, closest to the user.
    HappeningSoon {
        /// Horizon, in days.
        days: u32,
    },
    /// Offers created within the last `days`, closest to the user.
    NewOffers {
        /// Age limit, in days.
        days: u32,
    },
    /// Most booked in the user's department.
    TopsInDepartment,
    /// The closest offer of each category.
    OnePerCategory,
}

/// One playlist of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PlaylistSpec {
    /// Identifier used in requests.
    pub name: String,
    /// Title shown to users.
    pub title: String,
    /// What it selects.
    #[serde(flatten)]
    pub kind: PlaylistKind,
    /// Offers in the list.
    #[serde(default = "default_size")]
    pub size: usize,
}

fn default_size() -> usize {
    10
}

/// The playlists file: a list of `[[playlist]]` tables.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaylistConfig {
    /// The playlists, in display order.
    pub playlist: Vec<PlaylistSpec>,
}

const DEFAULT: &str = include_str!("../playlists/default.toml");

impl PlaylistConfig {
    /// The built-in playlists (`playlists/default.toml`).
    pub fn builtin() -> PlaylistConfig {
        PlaylistConfig::parse(DEFAULT, "playlists/default.toml").expect("the built-in playlists are valid")
    }

    /// Reads a playlists file.
    pub fn load(path: &Path) -> Result<PlaylistConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| IndexError::File { path: path.display().to_string(), reason: e.to_string() })?;
        PlaylistConfig::parse(&text, &path.display().to_string())
    }

    /// Parses and checks a playlists file.
    pub fn parse(text: &str, origin: &str) -> Result<PlaylistConfig> {
        let config: PlaylistConfig =
            toml::from_str(text).map_err(|e| IndexError::File { path: origin.to_owned(), reason: e.to_string() })?;
        let mut names = std::collections::HashSet::new();
        for p in &config.playlist {
            let bad = |field, reason: String| IndexError::BadPlaylist { playlist: p.name.clone(), field, reason };
            if p.name.trim().is_empty() {
                return Err(bad("name", "is empty".into()));
            }
            if !names.insert(p.name.clone()) {
                return Err(bad("name", "is used twice".into()));
            }
            if p.size == 0 || p.size > 500 {
                return Err(bad("size", format!("{} is not in 1..=500", p.size)));
            }
            if let PlaylistKind::HappeningSoon { days } | PlaylistKind::NewOffers { days } = p.kind
                && days == 0
            {
                return Err(bad("days", "must be at least 1".into()));
            }
        }
        Ok(config)
    }

    /// A playlist by name.
    pub fn get(&self, name: &str) -> Option<&PlaylistSpec> {
        self.playlist.iter().find(|p| p.name == name)
    }
}

/// Who the playlist is for, and about what.
#[derive(Debug, Clone, Default)]
pub struct PlaylistContext<'a> {
    /// The user's vector.
    pub user_vector: Option<&'a [f32]>,
    /// The offer a "similar" playlist starts from: its id, item and vector.
    pub seed_offer: Option<(&'a str, &'a str, &'a [f32])>,
    /// The user's filters (credit, bookable now, booked offers, radius, age).
    pub filters: Filters,
    /// Now, in seconds.
    pub now: i64,
    /// The user's department.
    pub department: Option<String>,
    /// The user's position, to pick the nearest venue of an item.
    pub location: Option<GeoPoint>,
}

/// A built playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Playlist {
    /// Its name.
    pub name: String,
    /// Its title.
    pub title: String,
    /// Its offers, one per item.
    pub hits: Vec<Hit>,
}

const DAY: i64 = 86_400;

/// Builds one playlist; `None` when the context lacks what it needs (no
/// user vector, no seed offer, no department).
pub fn build(index: &dyn VectorIndex, spec: &PlaylistSpec, ctx: &PlaylistContext<'_>) -> Result<Option<Playlist>> {
    let fetch = spec.size * 3;
    let finish = |hits: Vec<Hit>| {
        let mut hits = one_per_item(hits, ctx.location);
        hits.truncate(spec.size);
        Some(Playlist { name: spec.name.clone(), title: spec.title.clone(), hits })
    };
    Ok(match &spec.kind {
        PlaylistKind::SimilarToOffer => match ctx.seed_offer {
            Some((offer, item, vector)) => {
                let mut filters = ctx.filters.clone();
                filters.exclude_offers.push(offer.to_owned());
                filters.exclude_items.push(item.to_owned());
                finish(index.search(vector, &filters, fetch)?)
            }
            None => None,
        },
        PlaylistKind::ClosestToUser => match ctx.user_vector {
            Some(v) => finish(index.search(v, &ctx.filters, fetch)?),
            None => None,
        },
        PlaylistKind::HappeningSoon { days } => match ctx.user_vector {
            Some(v) => {
                let filters =
                    Filters { event_between: Some((ctx.now, ctx.now + i64::from(*days) * DAY)), ..ctx.filters.clone() };
                finish(index.search(v, &filters, fetch)?)
            }
            None => None,
        },
        PlaylistKind::NewOffers { days } => match ctx.user_vector {
            Some(v) => {
                let filters = Filters { created_after: Some(ctx.now - i64::from(*days) * DAY), ..ctx.filters.clone() };
                finish(index.search(v, &filters, fetch)?)
            }
            None => None,
        },
        PlaylistKind::TopsInDepartment => match &ctx.department {
            Some(d) => {
                let filters = Filters { department: Some(d.clone()), near: None, ..ctx.filters.clone() };
                finish(index.scan(&filters, fetch)?)
            }
            None => None,
        },
        PlaylistKind::OnePerCategory => match ctx.user_vector {
            Some(v) => {
                let mut hits = Vec::new();
                for c in CategoryId::all() {
                    let filters = Filters { categories: vec![c.canonical().to_owned()], ..ctx.filters.clone() };
                    if let Some(best) = one_per_item(index.search(v, &filters, 3)?, ctx.location).into_iter().next() {
                        hits.push(best);
                    }
                }
                hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.offer_id.cmp(&b.offer_id)));
                finish(hits)
            }
            None => None,
        },
    })
}
