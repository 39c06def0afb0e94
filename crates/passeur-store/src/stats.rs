//! Counts and summary statistics of a record store.

use crate::error::{Result, StoreError};
use passeur_domain::{SubcategoryId, age_on, parse_date};
use serde::Serialize;
use std::collections::BTreeMap;

/// How many records of each kind a store holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Venues.
    pub venues: u64,
    /// Offers.
    pub offers: u64,
    /// Users.
    pub users: u64,
    /// Consultations (clicks).
    pub consultations: u64,
    /// Favourites.
    pub favourites: u64,
    /// Bookings, cancelled or not.
    pub bookings: u64,
    /// Cancellations.
    pub cancellations: u64,
    /// Impressions.
    pub impressions: u64,
}

impl Counts {
    /// All interactions.
    pub fn interactions(&self) -> u64 {
        self.consultations + self.favourites + self.bookings + self.cancellations + self.impressions
    }

    pub(crate) fn add_interactions(&mut self, kind: &str, n: u64) {
        match kind {
            "consultation" => self.consultations += n,
            "favourite" => self.favourites += n,
            "booking" => self.bookings += n,
            "cancellation" => self.cancellations += n,
            "impression" => self.impressions += n,
            _ => {}
        }
    }
}

/// What `passeur stats` shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Record counts.
    pub counts: Counts,
    /// Offers by category code.
    pub offers_by_category: BTreeMap<String, u64>,
    /// Offers by format (physical, digital, event).
    pub offers_by_format: BTreeMap<String, u64>,
    /// Bookings that were not cancelled, by category.
    pub bookings_by_category: BTreeMap<String, u64>,
    /// Bookings that were not cancelled, by format.
    pub bookings_by_format: BTreeMap<String, u64>,
    /// Users by age on the reference date.
    pub users_by_age: BTreeMap<i32, u64>,
    /// Users by department.
    pub users_by_department: BTreeMap<String, u64>,
    /// Users by number of non-cancelled bookings (0 included).
    pub users_by_booking_count: BTreeMap<u64, u64>,
    /// Credit spent by non-cancelled bookings, in cents.
    pub credit_spent_cents: i64,
    /// Credit users still have, in cents.
    pub credit_remaining_cents: i64,
}

impl Stats {
    /// Mean non-cancelled bookings per user.
    pub fn mean_bookings_per_user(&self) -> f64 {
        let users: u64 = self.users_by_booking_count.values().sum();
        let bookings: u64 = self.users_by_booking_count.iter().map(|(n, u)| n * u).sum();
        if users == 0 { 0.0 } else { bookings as f64 / users as f64 }
    }
}

pub(crate) struct StatsBuilder {
    stats: Stats,
    on: chrono::NaiveDate,
}

fn subcategory(code: &str) -> Result<SubcategoryId> {
    SubcategoryId::parse(code).map_err(|e| StoreError::Corrupt {
        table: "offers",
        id: code.into(),
        reason: e.to_string(),
    })
}

impl StatsBuilder {
    pub(crate) fn new(counts: Counts, on: chrono::NaiveDate) -> StatsBuilder {
        StatsBuilder { stats: Stats { counts, ..Stats::default() }, on }
    }

    pub(crate) fn offers_of_subcategory(&mut self, code: &str, n: u64) -> Result<()> {
        let s = subcategory(code)?;
        *self.stats.offers_by_category.entry(s.category().canonical().to_owned()).or_default() += n;
        *self.stats.offers_by_format.entry(s.format().code().to_owned()).or_default() += n;
        Ok(())
    }

    pub(crate) fn bookings_of_subcategory(&mut self, code: &str, n: u64, spent: Option<i64>) -> Result<()> {
        let s = subcategory(code)?;
        *self.stats.bookings_by_category.entry(s.category().canonical().to_owned()).or_default() += n;
        *self.stats.bookings_by_format.entry(s.format().code().to_owned()).or_default() += n;
        self.stats.credit_spent_cents += spent.unwrap_or(0);
        Ok(())
    }

    pub(crate) fn users_born(&mut self, birth: &str, n: u64) -> Result<()> {
        let birth =
            parse_date(birth).map_err(|reason| StoreError::Corrupt { table: "users", id: birth.into(), reason })?;
        *self.stats.users_by_age.entry(age_on(birth, self.on)).or_default() += n;
        Ok(())
    }

    pub(crate) fn users_of_department(&mut self, department: String, n: u64, credit: Option<i64>) {
        *self.stats.users_by_department.entry(department).or_default() += n;
        self.stats.credit_remaining_cents += credit.unwrap_or(0);
    }

    pub(crate) fn users_with_bookings(&mut self, bookings: u64, users: u64) {
        *self.stats.users_by_booking_count.entry(bookings).or_default() += users;
    }

    pub(crate) fn finish(mut self) -> Stats {
        let with: u64 = self.stats.users_by_booking_count.values().sum();
        let without = self.stats.counts.users.saturating_sub(with);
        if without > 0 {
            self.stats.users_by_booking_count.insert(0, without);
        }
        self.stats
    }
}
