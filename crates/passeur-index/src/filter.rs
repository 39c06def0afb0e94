//! Pre-filters of a query, evaluated the same way by every backend: as a
//! Rust predicate (the reference), and as SQL for LanceDB.

use crate::record::IndexedOffer;
use passeur_domain::GeoPoint;

/// Within a radius of a point, or online.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Near {
    /// The user's position.
    pub point: GeoPoint,
    /// Radius, in kilometres.
    pub radius_km: f64,
    /// Digital offers pass too (they need no trip).
    pub include_digital: bool,
}

/// What an offer must satisfy to be returned. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    /// Price at most this (the user's remaining credit).
    pub max_price_cents: Option<i64>,
    /// Bookable at this instant: inside its window, event not started, stock left.
    pub bookable_at: Option<i64>,
    /// Offers to leave out (already booked, the query offer itself).
    pub exclude_offers: Vec<String>,
    /// Items to leave out.
    pub exclude_items: Vec<String>,
    /// Within a radius of the user, or digital.
    pub near: Option<Near>,
    /// The user's age: offers whose minimum age is above it are left out.
    pub user_age: Option<u8>,
    /// Only these categories (codes).
    pub categories: Vec<String>,
    /// Only events starting in `[from, to]` (seconds).
    pub event_between: Option<(i64, i64)>,
    /// Only offers created at or after this instant.
    pub created_after: Option<i64>,
    /// Only offers of venues in this department.
    pub department: Option<String>,
}

impl Filters {
    /// A user's filters: price within the remaining credit, bookable at `now`, not booked yet, within
    /// `radius_km` of home or digital, allowed at the user's age.
    pub fn for_user(user: &passeur_domain::User, booked: &[String], now: i64, radius_km: f64) -> Filters {
        let age = passeur_domain::age_on(user.birth_date, passeur_domain::Timestamp(now).date()).clamp(0, 255) as u8;
        Filters {
            max_price_cents: Some(user.credit_cents),
            bookable_at: Some(now),
            exclude_offers: booked.to_vec(),
            near: user.home.map(|point| Near { point, radius_km, include_digital: true }),
            user_age: Some(age),
            ..Filters::default()
        }
    }

    /// True when the offer passes every filter.
    pub fn matches(&self, o: &IndexedOffer) -> bool {
        if self.max_price_cents.is_some_and(|max| o.price_cents > max) {
            return false;
        }
        if let Some(at) = self.bookable_at {
            let open = o.bookable_from.is_none_or(|f| at >= f)
                && o.bookable_until.is_none_or(|u| at <= u)
                && o.event_start.is_none_or(|s| at <= s)
                && o.stock.is_none_or(|s| s > 0);
            if !open {
                return false;
            }
        }
        if self.exclude_offers.contains(&o.offer_id) || self.exclude_items.contains(&o.item_id) {
            return false;
        }
        if let Some(near) = &self.near
            && !near_ok(near, o.digital, o.location)
        {
            return false;
        }
        if self.user_age.is_some_and(|age| o.min_age > age) {
            return false;
        }
        if !self.categories.is_empty() && !self.categories.contains(&o.category) {
            return false;
        }
        if let Some((from, to)) = self.event_between
            && !o.event_start.is_some_and(|s| s >= from && s <= to)
        {
            return false;
        }
        if self.created_after.is_some_and(|t| o.created_at < t) {
            return false;
        }
        if let Some(d) = &self.department
            && o.department.as_deref() != Some(d.as_str())
        {
            return false;
        }
        true
    }

    /// The filters as a SQL predicate (LanceDB's DataFusion dialect). The
    /// radius becomes a bounding box; [`near_ok`] finishes the job on results.
    pub fn to_sql(&self) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        if let Some(max) = self.max_price_cents {
            parts.push(format!("price_cents <= {max}"));
        }
        if let Some(at) = self.bookable_at {
            parts.push(format!(
                "(bookable_from IS NULL OR bookable_from <= {at}) AND (bookable_until IS NULL OR bookable_until >= {at}) \
                 AND (event_start IS NULL OR event_start >= {at}) AND (stock IS NULL OR stock > 0)"
            ));
        }
        if !self.exclude_offers.is_empty() {
            parts.push(format!("offer_id NOT IN ({})", quoted_list(&self.exclude_offers)));
        }
        if !self.exclude_items.is_empty() {
            parts.push(format!("item_id NOT IN ({})", quoted_list(&self.exclude_items)));
        }
        if let Some(near) = &self.near {
            let dlat = near.radius_km / 111.0 * 1.01;
            let cos = near.point.lat.to_radians().cos().max(0.01);
            let dlon = near.radius_km / (111.32 * cos) * 1.01;
            let bbox = format!(
                "(latitude BETWEEN {} AND {} AND longitude BETWEEN {} AND {})",
                near.point.lat - dlat,
                near.point.lat + dlat,
                near.point.lon - dlon,
                near.point.lon + dlon
            );
            parts.push(if near.include_digital { format!("(digital OR {bbox})") } else { bbox });
        }
        if let Some(age) = self.user_age {
            parts.push(format!("min_age <= {age}"));
        }
        if !self.categories.is_empty() {
            parts.push(format!("category IN ({})", quoted_list(&self.categories)));
        }
        if let Some((from, to)) = self.event_between {
            parts.push(format!("event_start >= {from} AND event_start <= {to}"));
        }
        if let Some(t) = self.created_after {
            parts.push(format!("created_at >= {t}"));
        }
        if let Some(d) = &self.department {
            parts.push(format!("department = {}", quote(d)));
        }
        (!parts.is_empty()).then(|| parts.join(" AND "))
    }
}

/// The radius test: digital offers pass when allowed; others need a location within the radius.
pub fn near_ok(near: &Near, digital: bool, location: Option<GeoPoint>) -> bool {
    if digital {
        return near.include_digital;
    }
    location.is_some_and(|l| l.distance_km(near.point) <= near.radius_km)
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn quoted_list(items: &[String]) -> String {
    items.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", ")
}
