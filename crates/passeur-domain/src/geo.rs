//! Coordinates and distances.

/// A WGS84 point, in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    /// Latitude, −90..=90.
    pub lat: f64,
    /// Longitude, −180..=180.
    pub lon: f64,
}

impl GeoPoint {
    /// A checked point.
    pub fn new(lat: f64, lon: f64) -> Result<GeoPoint, String> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(format!("latitude {lat} is outside -90..=90"));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(format!("longitude {lon} is outside -180..=180"));
        }
        Ok(GeoPoint { lat, lon })
    }

    /// Great-circle distance in kilometres (haversine, mean Earth radius 6371.0088 km).
    pub fn distance_km(self, other: GeoPoint) -> f64 {
        const R: f64 = 6371.0088;
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * R * a.sqrt().asin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paris_to_lyon_is_about_392_km() {
        let paris = GeoPoint::new(48.8566, 2.3522).unwrap();
        let lyon = GeoPoint::new(45.7640, 4.8357).unwrap();
        let d = paris.distance_km(lyon);
        assert!((d - 392.0).abs() < 3.0, "{d}");
        assert_eq!(paris.distance_km(paris), 0.0);
    }

    #[test]
    fn out_of_range_points_are_refused() {
        assert!(GeoPoint::new(91.0, 0.0).unwrap_err().contains("latitude"));
        assert!(GeoPoint::new(0.0, -181.0).unwrap_err().contains("longitude"));
        assert!(GeoPoint::new(f64::NAN, 0.0).is_err());
    }
}
