//! Instants and dates.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use std::fmt;

/// An instant, in whole seconds since the Unix epoch, UTC.
///
/// Files carry it as RFC 3339 text (`2024-03-01T18:30:00Z`) or as a Parquet
/// timestamp in seconds; whole seconds make every round trip exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Seconds in a day.
    pub const DAY: i64 = 86_400;

    /// Now, truncated to the second.
    pub fn now() -> Timestamp {
        Timestamp(Utc::now().timestamp())
    }

    /// From a calendar date at midnight UTC.
    pub fn from_date(date: NaiveDate) -> Timestamp {
        Timestamp(date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp())
    }

    /// From seconds since the epoch, refused outside the calendar's range
    /// (chrono's ±262 000 years), so that every stored instant can be written
    /// back as text and as a millisecond Parquet timestamp.
    pub fn checked(seconds: i64) -> Result<Timestamp, String> {
        match DateTime::from_timestamp(seconds, 0) {
            Some(_) => Ok(Timestamp(seconds)),
            None => Err(format!("{seconds} seconds since 1970 is outside the calendar")),
        }
    }

    /// Seconds since the epoch.
    pub fn seconds(self) -> i64 {
        self.0
    }

    /// The UTC calendar date of this instant.
    pub fn date(self) -> NaiveDate {
        self.to_datetime().date_naive()
    }

    /// As a chrono value.
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.0, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Parses RFC 3339 text (`2024-03-01T18:30:00Z`, any offset), a plain
    /// date (`2024-03-01`, midnight UTC) or integer seconds since the epoch
    /// (`1709317800`). Sub-second digits are refused, so that what is stored
    /// is exactly what was read.
    pub fn parse(text: &str) -> Result<Timestamp, String> {
        let text = text.trim();
        if let Ok(seconds) = text.parse::<i64>() {
            return Timestamp::checked(seconds);
        }
        if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
            if dt.timestamp_subsec_nanos() != 0 {
                return Err(format!("{text:?} has sub-second digits; timestamps are whole seconds"));
            }
            return Ok(Timestamp(dt.timestamp()));
        }
        if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(Timestamp::from_date(date));
        }
        Err(format!("{text:?} is not an RFC 3339 timestamp such as 2024-03-01T18:30:00Z or integer seconds since 1970"))
    }

    /// This instant plus some days.
    pub fn plus_days(self, days: i64) -> Timestamp {
        Timestamp(self.0 + days * Self::DAY)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_datetime().format("%Y-%m-%dT%H:%M:%SZ"))
    }
}

/// Age in whole years on `on`, for someone born on `birth`.
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> i32 {
    let mut age = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

/// Parses a `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| format!("{text:?} is not a date such as 2007-05-21"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_text() {
        for s in [0, 1_700_000_000, -86_400, 4_102_444_800] {
            let t = Timestamp(s);
            assert_eq!(Timestamp::parse(&t.to_string()), Ok(t));
        }
        assert_eq!(Timestamp::parse("2024-03-01T20:30:00+02:00").unwrap().to_string(), "2024-03-01T18:30:00Z");
        assert_eq!(Timestamp::parse("2024-03-01").unwrap().to_string(), "2024-03-01T00:00:00Z");
        assert!(Timestamp::parse("2024-03-01T18:30:00.5Z").unwrap_err().contains("sub-second"));
        assert!(Timestamp::parse("yesterday").is_err());
    }

    #[test]
    fn age_counts_birthdays() {
        let d = |s| parse_date(s).unwrap();
        assert_eq!(age_on(d("2008-06-15"), d("2024-06-14")), 15);
        assert_eq!(age_on(d("2008-06-15"), d("2024-06-15")), 16);
        assert_eq!(age_on(d("2008-02-29"), d("2026-02-28")), 17);
        assert_eq!(age_on(d("2008-02-29"), d("2026-03-01")), 18);
    }
}
