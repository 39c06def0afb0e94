//! Gateway scores on a crafted world where one offer is a known good entry into cinema.

use passeur_insight::{Exposure, GatewayConfig, GatewayModel, JourneyEvent};

// Categories: 0 books, 1 cinema, 2 music. Subcategories: 0 novels, 1 film A, 2 film B, 3 albums.
// Offers: 0 a novel, 1 the good film (subcategory 1), 2 a poor film (subcategory 1), 3 a rarely shown film
// (subcategory 2), 4 an album, 5 a second novel.
const CATEGORY: [u16; 6] = [0, 1, 1, 1, 2, 0];
const SUBCATEGORY: [u16; 6] = [0, 1, 1, 2, 3, 0];
const GOOD: u32 = 1;
const POOR: u32 = 2;
const RARE: u32 = 3;

fn seen(at: i64, offer: u32) -> JourneyEvent {
    JourneyEvent { at, offer, kind: Exposure::Seen }
}

fn booked(at: i64, offer: u32) -> JourneyEvent {
    JourneyEvent { at, offer, kind: Exposure::Booked }
}

/// 100 readers see the good film and the poor film: 40 book the good one, 30 of them another film later;
/// 2 book the poor one; 2 readers see the rare film, 1 books it. 20 music lovers book an album, then 5 see
/// and book the good film.
fn journeys() -> Vec<Vec<JourneyEvent>> {
    let mut out = Vec::new();
    for u in 0..100 {
        let mut j = vec![booked(0, 0), seen(10, GOOD), seen(11, POOR)];
        if u < 40 {
            j.push(booked(12, GOOD));
            if u < 30 {
                j.push(booked(50, POOR)); // a second film: follow-through of the good film's entry
            }
        } else if u < 42 {
            j.push(booked(12, POOR));
        }
        out.push(j);
    }
    for u in 0..2 {
        let mut j = vec![booked(0, 5), seen(10, RARE)];
        if u == 0 {
            j.push(booked(11, RARE));
        }
        out.push(j);
    }
    for u in 0..20 {
        let mut j = vec![booked(0, 4)];
        if u < 5 {
            j.extend([seen(5, GOOD), booked(6, GOOD)]);
        }
        out.push(j);
    }
    out
}

fn model(prior_strength: f64) -> GatewayModel {
    let journeys = journeys();
    GatewayModel::fit(
        journeys.iter().map(Vec::as_slice),
        &CATEGORY,
        &SUBCATEGORY,
        3,
        4,
        GatewayConfig { prior_strength },
    )
    .unwrap()
}

#[test]
fn the_known_good_entry_scores_highest_and_counts_are_exact() {
    let m = model(20.0);
    // Exposures to newcomers: 100 readers + 5 music lovers; entries 40 + 5; follow-through 30.
    assert_eq!(m.offer_counts(GOOD), (105, 45, 30));
    assert_eq!(m.offer_counts(POOR), (100, 2, 0), "a film booked after entering cinema is no entry");
    assert_eq!(m.offer_counts(RARE), (2, 1, 0));
    assert_eq!(m.transitions(0, 1), 40 + 2 + 1);
    assert_eq!(m.transitions(2, 1), 5);
    let reader = [0usize];
    let good = m.score(&reader, GOOD).unwrap();
    let poor = m.score(&reader, POOR).unwrap();
    let rare = m.score(&reader, RARE).unwrap();
    assert!(good.score > rare.score && rare.score > poor.score, "{good:?}\n{rare:?}\n{poor:?}");
    // Shrinkage: the rare film's raw rate is 1/2; shrunk, it sits near its subcategory's prior, far below.
    assert!(rare.entry_rate < 0.3 && (rare.entry_rate - rare.subcategory_entry_rate).abs() < 0.1, "{rare:?}");
    // With no prior, the raw rates come back.
    let raw = model(0.0);
    assert!((raw.score(&reader, GOOD).unwrap().entry_rate - 45.0 / 105.0).abs() < 1e-12);
    assert!((raw.score(&reader, RARE).unwrap().entry_rate - 0.5).abs() < 1e-12);
    assert!((raw.score(&reader, GOOD).unwrap().follow_through - 30.0 / 45.0).abs() < 1e-12);
    // A user who already booked a film gets no cinema gateway; readers enter cinema more than average.
    assert!(m.score(&[1], GOOD).is_none());
    assert!(good.lift > 1.0, "{}", good.lift);
    assert_eq!(m.score(&[], GOOD).unwrap().lift, 1.0);
}

#[test]
fn discover_proposes_one_entry_per_untried_category_best_first() {
    let m = model(20.0);
    let picks = m.discover(&[0], &[0, 1, 2, 3, 4, 5], 5);
    let offers: Vec<u32> = picks.iter().map(|p| p.0).collect();
    // Books are tried: no novel. Cinema: the good film; music: the album.
    assert_eq!(offers.len(), 2, "{picks:?}");
    assert!(offers.contains(&GOOD) && offers.contains(&4));
    assert!(picks[0].1.score >= picks[1].1.score);
    assert_eq!(m.discover(&[0], &[0, 1, 2, 3, 4, 5], 1).len(), 1);
}

#[test]
fn bad_inputs_name_the_field() {
    let j = [booked(0, 9)];
    let err = GatewayModel::fit([&j[..]], &CATEGORY, &SUBCATEGORY, 3, 4, GatewayConfig::default()).unwrap_err();
    assert!(err.to_string().contains("offer 9"), "{err}");
    let err = GatewayModel::fit([&j[..0]], &[7], &[0], 3, 4, GatewayConfig::default()).unwrap_err();
    assert!(err.to_string().contains("offer_category"), "{err}");
    let err = GatewayModel::fit([&j[..0]], &[0], &[0], 3, 4, GatewayConfig { prior_strength: -1.0 }).unwrap_err();
    assert!(err.to_string().contains("prior_strength"), "{err}");
}
