//! The behaviour model of simulated young people, read from a TOML file.
//!
//! Every parameter of how a shown offer turns into a consultation, a booking, a cancellation and a
//! change of taste is a key of [`Behaviour`]; `behaviours/default.toml` documents each one with the
//! defaults (the synthetic world's own behaviour model, plus the examination of positions). Unknown keys
//! and values out of their range are refused with the key's name.

use crate::error::{JourneyError, Result};
use passeur_synth::BehaviourModel;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How simulated young people answer the lists they are shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Behaviour {
    /// A name for tables (defaults to the file's stem).
    pub name: String,
    /// Weight of ln(category taste) in the utility.
    pub category_weight: f64,
    /// Utility bonus when the offer's genre is one of the user's favourites.
    pub genre_bonus: f64,
    /// Utility lost per kilometre between home and venue.
    pub distance_per_km: f64,
    /// Offset of p(consult | examined) = σ(utility + offset − 1).
    pub consult_offset: f64,
    /// Offset of p(book | consulted) = σ(utility + offset − 1), before credit.
    pub book_offset: f64,
    /// p(favourite | consulted).
    pub favourite_rate: f64,
    /// p(cancel | booking).
    pub cancel_rate: f64,
    /// Taste weight a discovery (a booking in a category weighing under 5 % of the user's tastes) adds to
    /// that category, times the user's openness.
    pub drift: f64,
    /// Multiplies every user's ground-truth openness (capped at 1): 0 makes everyone closed-minded.
    pub openness_scale: f64,
    /// Multiplies the world's session rate (its sessions per user per year × the user's activity).
    pub sessions_scale: f64,
    /// Offers a session's list shows.
    pub list_len: usize,
    /// p(examined) of the top position.
    pub examine_top: f64,
    /// Each position down multiplies p(examined) by this (a geometric position bias).
    pub examine_decay: f64,
    /// Utility lost per euro of price (price sensitivity; 0 in the world).
    pub price_per_euro: f64,
    /// Utility lost when the offer's category is one the user has never booked (novelty aversion).
    pub novelty_aversion: f64,
    /// p(two places | the offer is a duo offer).
    pub duo_rate: f64,
    /// Days between a booking and its cancellation, at most (drawn uniformly from 1 to this).
    pub cancel_within_days: u32,
}

impl Default for Behaviour {
    fn default() -> Self {
        let world = BehaviourModel::default();
        Behaviour {
            name: "default".into(),
            category_weight: world.category_weight,
            genre_bonus: world.genre_bonus,
            distance_per_km: world.distance_per_km,
            consult_offset: world.consult_offset,
            book_offset: world.book_offset,
            favourite_rate: world.favourite_rate,
            cancel_rate: world.cancel_rate,
            drift: world.drift,
            openness_scale: 1.0,
            sessions_scale: 1.0,
            list_len: 12,
            examine_top: 1.0,
            examine_decay: 0.85,
            price_per_euro: 0.0,
            novelty_aversion: 0.0,
            duo_rate: 0.2,
            cancel_within_days: 2,
        }
    }
}

impl Behaviour {
    /// Reads a behaviour file; the name defaults to the file's stem.
    pub fn from_file(path: &Path) -> Result<Behaviour> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| JourneyError::File { file: file.clone(), reason: e.to_string() })?;
        let mut b = Behaviour::parse(&text).map_err(|reason| JourneyError::File { file, reason })?;
        if b.name == Behaviour::default().name
            && let Some(stem) = path.file_stem()
        {
            b.name = stem.to_string_lossy().into_owned();
        }
        Ok(b)
    }

    /// Parses and checks a behaviour TOML text; the error names the key.
    pub fn parse(text: &str) -> std::result::Result<Behaviour, String> {
        let b: Behaviour = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        b.validate().map_err(|e| e.to_string())?;
        Ok(b)
    }

    /// Checks every key's range; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let ranges: [(&str, f64, f64, f64); 16] = [
            ("category_weight", self.category_weight, 0.0, 10.0),
            ("genre_bonus", self.genre_bonus, 0.0, 10.0),
            ("distance_per_km", self.distance_per_km, 0.0, 5.0),
            ("consult_offset", self.consult_offset, -20.0, 20.0),
            ("book_offset", self.book_offset, -20.0, 20.0),
            ("favourite_rate", self.favourite_rate, 0.0, 1.0),
            ("cancel_rate", self.cancel_rate, 0.0, 1.0),
            ("drift", self.drift, 0.0, 1.0),
            ("openness_scale", self.openness_scale, 0.0, 10.0),
            ("sessions_scale", self.sessions_scale, 0.0, 100.0),
            ("list_len", self.list_len as f64, 1.0, 60.0),
            ("examine_top", self.examine_top, 0.0, 1.0),
            ("examine_decay", self.examine_decay, 0.0, 1.0),
            ("price_per_euro", self.price_per_euro, 0.0, 5.0),
            ("novelty_aversion", self.novelty_aversion, 0.0, 20.0),
            ("duo_rate", self.duo_rate, 0.0, 1.0),
        ];
        for (key, value, low, high) in ranges {
            if !(value.is_finite() && (low..=high).contains(&value)) {
                return Err(JourneyError::Config {
                    field: key.to_owned(),
                    reason: format!("{value} is out of range [{low}, {high}]"),
                });
            }
        }
        if !(1..=60).contains(&self.cancel_within_days) {
            return Err(JourneyError::Config {
                field: "cancel_within_days".into(),
                reason: format!("{} is out of range [1, 60]", self.cancel_within_days),
            });
        }
        Ok(())
    }

    /// The world's behaviour model with these parameters.
    pub fn model(&self) -> BehaviourModel {
        BehaviourModel {
            category_weight: self.category_weight,
            genre_bonus: self.genre_bonus,
            distance_per_km: self.distance_per_km,
            consult_offset: self.consult_offset,
            book_offset: self.book_offset,
            favourite_rate: self.favourite_rate,
            cancel_rate: self.cancel_rate,
            drift: self.drift,
        }
    }

    /// p(examined) at `position` (0 = top).
    pub fn examined(&self, position: usize) -> f64 {
        self.examine_top * self.examine_decay.powi(position as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_file_is_the_default() {
        let text = include_str!("../behaviours/default.toml");
        assert_eq!(Behaviour::parse(text).unwrap(), Behaviour::default());
    }

    #[test]
    fn the_other_behaviour_files_parse_and_differ_from_the_default() {
        for text in
            [include_str!("../behaviours/closed-minded.toml"), include_str!("../behaviours/price-sensitive.toml")]
        {
            let b = Behaviour::parse(text).unwrap();
            assert_ne!(b, Behaviour::default());
        }
    }

    #[test]
    fn an_unknown_key_is_refused_naming_it() {
        let e = Behaviour::parse("drift = 0.1\nopenes = 0.5\n").unwrap_err();
        assert!(e.contains("openes"), "{e}");
    }

    #[test]
    fn an_out_of_range_key_is_refused_naming_it() {
        for (text, key) in [
            ("examine_decay = 1.5", "examine_decay"),
            ("cancel_rate = -0.1", "cancel_rate"),
            ("list_len = 0", "list_len"),
            ("drift = nan", "drift"),
            ("cancel_within_days = 0", "cancel_within_days"),
        ] {
            let e = Behaviour::parse(text).unwrap_err();
            assert!(e.starts_with(key), "{text}: {e}");
        }
        let e = Behaviour::parse("list_len = \"twelve\"").unwrap_err();
        assert!(e.contains("string") || e.contains("integer"), "{e}");
    }

    #[test]
    fn a_file_error_names_the_file() {
        let dir = std::env::temp_dir().join(format!("passeur-behaviour-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, "genre_bonus = 11\n").unwrap();
        let e = Behaviour::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("bad.toml") && e.contains("genre_bonus"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn examination_decays_geometrically() {
        let b = Behaviour { examine_top: 0.9, examine_decay: 0.5, ..Behaviour::default() };
        assert_eq!(b.examined(0), 0.9);
        assert_eq!(b.examined(2), 0.9 * 0.25);
    }
}
