//! Each metric on hand-made cases, and the Gini coefficient against its definition.

use passeur_insight::metrics::ListMetrics;
use passeur_insight::{CatalogueMetrics, UserMetrics, calibration_kl, gini, intra_list_diversity};
use proptest::prelude::*;

#[test]
fn user_metrics_on_a_hand_made_history() {
    // Categories in time order: books, books, cinema, music, cinema. Books is the start; cinema and music
    // are newly entered; cinema got a second booking, music did not.
    let m = UserMetrics::of(&[0, 0, 1, 2, 1], 17);
    assert_eq!((m.bookings, m.score, m.categories_entered), (5, 17, 3));
    let expected = -(0.4f64 * 0.4f64.log2() + 0.4 * 0.4f64.log2() + 0.2 * 0.2f64.log2());
    assert!((m.entropy_bits - expected).abs() < 1e-12, "{}", m.entropy_bits);
    assert!((m.evenness - expected / 3f64.log2()).abs() < 1e-12);
    assert_eq!((m.newly_entered, m.followed_through), (2, 1));
    assert_eq!(m.follow_through, Some(0.5));
    // One category: no entropy, nothing newly entered.
    let one = UserMetrics::of(&[4, 4, 4], 5);
    assert_eq!((one.entropy_bits, one.evenness, one.follow_through), (0.0, 0.0, None));
    // Even shares over 4 categories: 2 bits, evenness 1.
    let even = UserMetrics::of(&[0, 1, 2, 3], 0);
    assert!((even.entropy_bits - 2.0).abs() < 1e-12 && (even.evenness - 1.0).abs() < 1e-12);
    assert_eq!(even.follow_through, Some(0.0));
    let none = UserMetrics::of(&[], 0);
    assert_eq!((none.bookings, none.categories_entered, none.entropy_bits), (0, 0, 0.0));
}

#[test]
fn list_metrics_on_hand_made_lists() {
    let (a, b, c) = ([1.0f32, 0.0], [0.0f32, 1.0], [1.0f32, 1.0]);
    // Pairs: a·b cos 0 → 1; a·c cos 1/√2; b·c cos 1/√2.
    let ild = intra_list_diversity(&[&a, &b, &c]);
    let expected = (1.0 + 2.0 * (1.0 - 1.0 / 2f64.sqrt())) / 3.0;
    assert!((ild - expected).abs() < 1e-9, "{ild} vs {expected}");
    assert_eq!(intra_list_diversity(&[&a, &a]), 0.0);
    assert_eq!(intra_list_diversity(&[&a]), 0.0);
    // Calibration: the list's mix equals the user's → 0; a list without the user's main category → > 0.
    assert!(calibration_kl(&[2.0, 2.0, 0.0], &[1.0, 1.0, 0.0], 0.01).unwrap().unwrap().abs() < 1e-12);
    let off = calibration_kl(&[3.0, 1.0, 0.0], &[0.0, 1.0, 3.0], 0.01).unwrap().unwrap();
    // p = (0.75, 0.25, 0); q̃ = 0.99 q + 0.01 p = (0.0075, 0.25, 0.7425).
    let expected = 0.75 * (0.75f64 / 0.0075).ln() + 0.25 * (0.25f64 / (0.99 * 0.25 + 0.0025)).ln();
    assert!((off - expected).abs() < 1e-12, "{off} vs {expected}");
    assert_eq!(calibration_kl(&[0.0, 0.0], &[1.0, 0.0], 0.01).unwrap(), None);
    let err = calibration_kl(&[1.0], &[1.0, 0.0], 0.01).unwrap_err().to_string();
    assert!(err.contains("list_counts"), "{err}");
    let m = ListMetrics::of(&[&a, &b, &c], &[0, 0, 1], &[3, 4, 4], &[1.0, 0.0, 0.0]).unwrap();
    assert_eq!((m.len, m.distinct_subcategories, m.distinct_categories), (3, 2, 2));
    assert!(m.calibration_kl.unwrap() > 0.0);
    assert!(ListMetrics::of(&[&a], &[5], &[0], &[1.0, 0.0]).is_err());
}

#[test]
fn catalogue_metrics_on_a_hand_made_catalogue() {
    // 4 offers in 3 venues of 2 partners; exposures 6, 2, 0, 0.
    let m = CatalogueMetrics::of(&[6, 2, 0, 0], &[0, 1, 1, 2], &[0, 0, 1], 2).unwrap();
    assert_eq!((m.offers, m.exposed_offers), (4, 2));
    assert_eq!(m.coverage, 0.5);
    // Offers sorted 0, 0, 2, 6: G = 2 (3·2 + 4·6) / (4 · 8) − 5/4 = 60/32 − 1.25 = 0.625.
    assert!((m.gini_offers - 0.625).abs() < 1e-12, "{}", m.gini_offers);
    // Venues 6, 2, 0 → sorted 0, 2, 6: G = 2 (2·2 + 3·6) / (3 · 8) − 4/3 = 44/24 − 4/3 = 0.5.
    assert!((m.gini_venues - 0.5).abs() < 1e-12);
    // Partners: 8 and 0 → G = 2 (2·8) / (2·8) − 3/2 = 0.5.
    assert!((m.gini_partners - 0.5).abs() < 1e-12);
    assert_eq!(gini(&[3.0, 3.0, 3.0]), 0.0);
    assert_eq!(gini(&[]), 0.0);
    let err = CatalogueMetrics::of(&[1, 2], &[0, 5], &[0], 1).unwrap_err().to_string();
    assert!(err.contains("venue_of_offer") && err.contains("offer 1"), "{err}");
}

/// The definition: the mean absolute difference over all ordered pairs, divided by twice the mean.
fn gini_by_pairs(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    if mean == 0.0 {
        return 0.0;
    }
    let diff: f64 = x.iter().flat_map(|a| x.iter().map(move |b| (a - b).abs())).sum();
    diff / (2.0 * n * n * mean)
}

proptest! {
    #[test]
    fn gini_equals_its_pairwise_definition(x in prop::collection::vec(0.0f64..100.0, 1..40)) {
        prop_assert!((gini(&x) - gini_by_pairs(&x)).abs() < 1e-9);
    }

    #[test]
    fn entropy_is_bounded_by_the_number_of_categories(c in prop::collection::vec(0usize..8, 1..60)) {
        let m = UserMetrics::of(&c, 0);
        prop_assert!(m.entropy_bits >= 0.0);
        prop_assert!(m.entropy_bits <= (m.categories_entered as f64).log2() + 1e-9);
        prop_assert!(m.followed_through <= m.newly_entered);
    }
}

#[test]
fn territory_breakdowns_and_score_distribution_on_hand_made_counts() {
    use passeur_insight::territory::{Activity, ActivityBreakdown, ActivityKind, ScoreDistribution, age_in_month};
    let row = |kind, category: &str, month: &str, age, count| Activity {
        kind,
        category: category.into(),
        month: month.into(),
        age,
        count,
    };
    let rows = [
        row(ActivityKind::Booking, "LIVRE", "2024-02", Some(17), 3),
        row(ActivityKind::Consultation, "LIVRE", "2024-01", Some(17), 10),
        row(ActivityKind::Booking, "CINEMA", "2024-01", Some(18), 5),
        row(ActivityKind::Cancellation, "CINEMA", "2024-01", Some(18), 1),
        row(ActivityKind::Consultation, "MUSIQUE_LIVE", "2024-02", None, 4),
    ];
    let b = ActivityBreakdown::of(&rows);
    assert_eq!((b.total.consultations, b.total.bookings, b.total.cancellations), (14, 8, 1));
    let cats: Vec<&str> = b.by_category.iter().map(|k| k.key.as_str()).collect();
    assert_eq!(cats, ["CINEMA", "LIVRE", "MUSIQUE_LIVE"], "most booked first");
    assert_eq!(b.by_category[1].counts.consultations, 10);
    let ages: Vec<(i32, u64)> = b.by_age.iter().map(|k| (k.key, k.counts.bookings)).collect();
    assert_eq!(ages, [(17, 3), (18, 5)], "unknown ages left out");
    let months: Vec<(&str, u64)> = b.by_month.iter().map(|k| (k.key.as_str(), k.counts.consultations)).collect();
    assert_eq!(months, [("2024-01", 10), ("2024-02", 4)]);
    let d = ScoreDistribution::of(&[0, 3, 4, 12, 35]);
    assert_eq!((d.users, d.median), (5, 4));
    assert!((d.mean - 54.0 / 5.0).abs() < 1e-12);
    let bins: Vec<u64> = d.histogram.iter().map(|b| b.users).collect();
    assert_eq!(bins, [1, 2, 0, 1, 0, 1]);
    assert_eq!(ScoreDistribution::of(&[]).median, 0);
    assert_eq!(age_in_month("2006-03-15", "2024-03"), Some(17), "the birthday is later in March");
    assert_eq!(age_in_month("2006-03-01", "2024-03"), Some(18));
    assert_eq!(age_in_month("2006-12-31", "2025-01"), Some(18));
    assert_eq!(age_in_month("bad", "2024-01"), None);
}
