//! The diversification score: the deck's worked example, the open choices,
//! both rule sets, rule-file errors, and incremental updates against a naive
//! reference.

use passeur_diversity::{
    BookingTable, Criterion, DiversificationRules, DiversityError, OfferTraits, UserProfile, score_bookings,
};
use passeur_domain::{
    BookSectionId, GeoPoint, MusicGenreId, Offer, ShowTypeId, SubcategoryId, Timestamp, Venue, VenueTypeId,
};
use proptest::prelude::*;

fn venue(id: u32, venue_type: &str) -> (Venue, u32) {
    let location = (venue_type != "DIGITAL").then(|| GeoPoint::new(48.86, 2.34).unwrap());
    let v = Venue {
        id: format!("v{id}"),
        name: format!("venue {id}"),
        venue_type: VenueTypeId::parse(venue_type).unwrap(),
        location,
        city: "Paris".into(),
        department: "75".into(),
        partner_id: "p".into(),
    };
    (v, id)
}

/// An offer of a subcategory with an optional genre (book section, music genre or show type, by category).
fn offer(subcategory: &str, genre: Option<&str>) -> Offer {
    let sub = SubcategoryId::parse(subcategory).unwrap();
    let category = sub.category().canonical();
    let is_event = sub.info().is_event;
    Offer {
        id: "o".into(),
        item_id: "i".into(),
        title: "t".into(),
        description: String::new(),
        artist: None,
        subcategory: sub,
        book_macro_section: genre.filter(|_| category == "LIVRE").map(|g| BookSectionId::parse(g).unwrap()),
        music_genre: genre.filter(|_| category.starts_with("MUSIQUE")).map(|g| MusicGenreId::parse(g).unwrap()),
        show_type: genre.filter(|_| category == "SPECTACLE").map(|g| ShowTypeId::parse(g).unwrap()),
        movie_genre: None,
        price_cents: 0,
        duo: false,
        stock: None,
        bookable_from: None,
        bookable_until: None,
        event_start: is_event.then_some(Timestamp(1)),
        created_at: Timestamp(0),
        venue_id: Some("v".into()),
        image_embedding: None,
    }
}

fn traits(subcategory: &str, genre: Option<&str>, v: (u32, &str)) -> OfferTraits {
    let (venue, index) = venue(v.0, v.1);
    OfferTraits::of(&offer(subcategory, genre), Some((&venue, index)))
}

const FNAC_DES_HALLES: (u32, &str) = (1, "DISTRIBUTION_STORE");
const MALLE_AUX_HISTOIRES: (u32, &str) = (2, "BOOKSTORE");
const ZENITH: (u32, &str) = (3, "CONCERT_HALL");

fn criteria(points: passeur_diversity::Points) -> Vec<&'static str> {
    points.criteria.iter().map(Criterion::name).collect()
}

#[test]
fn the_decks_worked_example_scores_1_2_5_0() {
    let rules = DiversificationRules::deck();
    let manga = traits("LIVRE_PAPIER", Some("Manga"), FNAC_DES_HALLES);
    let litterature = traits("LIVRE_PAPIER", Some("Littérature française"), MALLE_AUX_HISTOIRES);
    let concert = traits("CONCERT", Some("Rap/ Hip Hop"), ZENITH);
    let mut user = UserProfile::new();
    let expected: [(OfferTraits, u32, &[&str]); 4] = [
        (manga, 1, &["first_booking"]),
        (litterature, 2, &["venue", "book_macro_section"]),
        (concert, 5, &["category", "subcategory", "venue", "format", "music_genre"]),
        (manga, 0, &[]),
    ];
    for (i, (t, points, names)) in expected.iter().enumerate() {
        assert_eq!(user.delta_div(&rules, t), *points, "Δdiv before booking {}", i + 1);
        let got = user.book(&rules, &format!("b{i}"), i as i64 * 100, *t);
        assert_eq!(got.points, *points, "booking {}", i + 1);
        assert_eq!(criteria(got), *names, "booking {}", i + 1);
    }
    assert_eq!(user.score(), 8);
    let points: Vec<u32> = user.history().iter().map(|b| b.points.points).collect();
    assert_eq!(points, [1, 2, 5, 0]);
}

#[test]
fn the_weighted_variant_scores_first_occurrences() {
    let rules = DiversificationRules::weighted();
    let mut user = UserProfile::new();
    let manga = traits("LIVRE_PAPIER", Some("Manga"), FNAC_DES_HALLES);
    // First booking: everything is new: category 25 + venue type 20 + subcategory 10 + venue 5 + section 5.
    let p = user.book(&rules, "b1", 0, manga);
    assert_eq!(p.points, 65);
    assert_eq!(criteria(p), ["first_booking", "category", "subcategory", "venue", "venue_type", "book_macro_section"]);
    // A book of a new section at a new bookstore: venue type 20 + venue 5 + section 5.
    assert_eq!(user.book(&rules, "b2", 1, traits("LIVRE_PAPIER", Some("Policier"), MALLE_AUX_HISTOIRES)).points, 30);
    // An offer without genre: the extra criterion is its venue (5 + 5 for a new venue).
    let museum = traits("VISITE", None, (9, "MUSEUM"));
    let p = user.explain(&rules, &museum);
    assert_eq!(criteria(p), ["category", "subcategory", "venue", "venue_type", "extra_venue"]);
    assert_eq!(p.points, 25 + 10 + 5 + 20 + 5);
    // A book without macro-section at a known venue: a missing genre falls back to the (known) venue.
    assert_eq!(user.delta_div(&rules, &traits("LIVRE_PAPIER", None, FNAC_DES_HALLES)), 0);
}

#[test]
fn a_cancelled_booking_counts_as_if_it_never_happened_even_the_first() {
    let rules = DiversificationRules::deck();
    let manga = traits("LIVRE_PAPIER", Some("Manga"), FNAC_DES_HALLES);
    let concert = traits("CONCERT", Some("Rap/ Hip Hop"), ZENITH);
    let mut user = UserProfile::new();
    user.book(&rules, "b1", 10, manga);
    user.book(&rules, "b2", 20, concert);
    assert_eq!(user.score(), 6);
    assert!(user.cancel(&rules, "b1"));
    // The concert is now the first booking.
    assert_eq!(user.score(), 1);
    assert_eq!(criteria(user.history()[0].points), ["first_booking"]);
    // category, subcategory, venue (+2: not a bookstore), format, book section.
    assert_eq!(user.delta_div(&rules, &manga), 6);
    assert!(!user.cancel(&rules, "b1"), "already gone");
    assert!(user.cancel(&rules, "b2"));
    assert_eq!(user.score(), 0);
    assert_eq!(user.delta_div(&rules, &manga), 1, "an empty profile's next booking is a first booking");
}

#[test]
fn digital_offers_share_one_pseudo_venue() {
    let rules = DiversificationRules::deck();
    let ebook = |v| {
        let o = Offer { venue_id: None, ..offer("LIVRE_NUMERIQUE", Some("Manga")) };
        let (venue, index) = venue(v, "DIGITAL");
        OfferTraits::of(&o, Some((&venue, index)))
    };
    let (a, b) = (ebook(20), ebook(21));
    assert_eq!(a.venue, OfferTraits::DIGITAL_VENUE);
    assert_eq!(a, b, "two digital venues are one pseudo-venue");
    let none = OfferTraits::of(&Offer { venue_id: None, ..offer("LIVRE_NUMERIQUE", Some("Manga")) }, None);
    assert_eq!(none, a);
    let mut user = UserProfile::new();
    user.book(&rules, "b1", 0, traits("LIVRE_PAPIER", Some("Manga"), MALLE_AUX_HISTOIRES));
    // New format (digital) and new venue (the pseudo-venue, an "other" venue: +2).
    let p = user.book(&rules, "b2", 1, a);
    assert_eq!((p.points, criteria(p)), (4, vec!["subcategory", "venue", "format"]));
    assert_eq!(user.delta_div(&rules, &b), 0);
}

#[test]
fn a_missing_genre_is_not_a_new_genre() {
    let rules = DiversificationRules::deck();
    let mut user = UserProfile::new();
    user.book(&rules, "b1", 0, traits("LIVRE_PAPIER", Some("Manga"), MALLE_AUX_HISTOIRES));
    let p = user.book(&rules, "b2", 1, traits("LIVRE_PAPIER", None, MALLE_AUX_HISTOIRES));
    assert_eq!(p.points, 0);
    // ... and does not make the next section less new.
    assert_eq!(user.delta_div(&rules, &traits("LIVRE_PAPIER", Some("Policier"), MALLE_AUX_HISTOIRES)), 1);
    // Genres count only for the categories the rules name: a show's type is not a book section.
    let show = traits("SPECTACLE_REPRESENTATION", Some("Théâtre"), (5, "PERFORMING_ARTS"));
    assert_eq!(criteria(user.explain(&rules, &show)), ["category", "subcategory", "venue", "format", "show_type"]);
}

#[test]
fn bookings_at_the_same_instant_are_taken_in_booking_id_order() {
    let rules = DiversificationRules::deck();
    let manga = traits("LIVRE_PAPIER", Some("Manga"), FNAC_DES_HALLES);
    let concert = traits("CONCERT", Some("Rap/ Hip Hop"), ZENITH);
    let mut a = UserProfile::new();
    a.book(&rules, "b-2", 50, concert);
    a.book(&rules, "b-1", 50, manga);
    let mut b = UserProfile::new();
    b.book(&rules, "b-1", 50, manga);
    b.book(&rules, "b-2", 50, concert);
    assert_eq!(a, b);
    assert_eq!(a.history()[0].booking_id, "b-1");
    assert_eq!(a.history()[0].points.points, 1);
}

fn rules_error(text: &str) -> String {
    match DiversificationRules::from_toml(text, "my-rules.toml") {
        Err(e) => e.to_string(),
        Ok(r) => panic!("expected an error, got {r:?}"),
    }
}

#[test]
fn bad_rules_files_are_refused_with_what_is_wrong() {
    let deck = include_str!("../rules/deck-2023.toml");
    let e = rules_error(&deck.replace("categories = [\"LIVRE\"]", "categories = [\"LIVRES\"]"));
    assert_eq!(e, "rules file my-rules.toml: extra.criteria[0].categories: unknown category \"LIVRES\"");
    let e = rules_error(&deck.replace("RECORD_STORE = 1", "RECORD_SHOP = 1"));
    assert_eq!(e, "rules file my-rules.toml: venue.by_type: unknown venue type \"RECORD_SHOP\"");
    let e = rules_error(&deck.replace("kind = \"show_type\"", "kind = \"show_genre\""));
    assert!(e.contains("unknown criterion \"show_genre\""), "{e}");
    let e = rules_error(&deck.replace("subcategory = 1", "subcatgory = 1"));
    assert!(e.contains("subcatgory") && e.contains("line"), "{e}");
    let e = rules_error("name = \"x\"\nfirst_booking = \"fixed\"\n[points\n");
    assert!(e.starts_with("rules file my-rules.toml:") && e.contains("line 3"), "{e}");
    let e = rules_error(&deck.replace("first_booking_points = 1", "first_booking_points = 0"));
    assert!(e.contains("first_booking_points"), "{e}");
    assert!(matches!(
        DiversificationRules::load(std::path::Path::new("/nonexistent/rules.toml")),
        Err(DiversityError::Io { .. })
    ));
    assert_eq!(DiversificationRules::builtin("deck"), Some(DiversificationRules::deck()));
    assert_eq!(DiversificationRules::builtin("weighted").unwrap().category, 25);
}

// ---------------------------------------------------------------- against a naive reference

/// The score written as plainly as possible: sets of strings, recomputed from scratch.
fn naive_points(rules: &DiversificationRules, bookings: &[(String, i64, OfferTraits)]) -> Vec<u32> {
    use std::collections::HashSet;
    let mut ordered: Vec<&(String, i64, OfferTraits)> = bookings.iter().collect();
    ordered.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    for (i, (_, _, t)) in ordered.iter().enumerate() {
        let mut points = 0;
        let mut new = |key: String, weight: u32| -> bool {
            let is_new = !seen.contains(&key);
            if is_new {
                points += weight;
            }
            is_new
        };
        new(format!("cat{}", t.category), rules.category);
        new(format!("sub{}", t.subcategory), rules.subcategory);
        new(format!("fmt{}", t.format), rules.format);
        new(format!("vt{}", t.venue_type), rules.venue_type);
        let venue_new = new(format!("venue{}", t.venue), rules.venue_by_type[t.venue_type as usize]);
        let mut has_extra = false;
        for k in 0..4 {
            if rules.extra_categories[k] & (1 << t.category) != 0 && t.extra[k] != passeur_diversity::NONE {
                has_extra = true;
                new(format!("x{k}-{}", t.extra[k]), rules.extra_points[k]);
            }
        }
        if !has_extra && venue_new {
            points += rules.fallback_to_venue_points;
        }
        if i == 0 && rules.first_booking == passeur_diversity::FirstBooking::Fixed {
            points = rules.first_booking_points;
        }
        for key in [
            format!("cat{}", t.category),
            format!("sub{}", t.subcategory),
            format!("fmt{}", t.format),
            format!("vt{}", t.venue_type),
            format!("venue{}", t.venue),
        ] {
            seen.insert(key);
        }
        for k in 0..4 {
            if t.extra[k] != passeur_diversity::NONE {
                seen.insert(format!("x{k}-{}", t.extra[k]));
            }
        }
        out.push(points);
    }
    out
}

fn arb_traits() -> impl Strategy<Value = OfferTraits> {
    let subs = [
        ("LIVRE_PAPIER", "BOOKSTORE"),
        ("LIVRE_NUMERIQUE", "DIGITAL"),
        ("CONCERT", "CONCERT_HALL"),
        ("SUPPORT_PHYSIQUE_MUSIQUE_CD", "RECORD_STORE"),
        ("SPECTACLE_REPRESENTATION", "PERFORMING_ARTS"),
        ("VISITE", "MUSEUM"),
        ("SEANCE_CINE", "MOVIE"),
    ];
    let genres =
        [None, Some("Manga"), Some("Policier"), Some("Rap/ Hip Hop"), Some("Rock"), Some("Théâtre"), Some("Cirque")];
    (0..subs.len(), 0..genres.len(), 0u32..6).prop_map(move |(s, g, v)| {
        let (sub, venue_type) = subs[s];
        let category = SubcategoryId::parse(sub).unwrap().category().canonical();
        let genre = genres[g].filter(|g| match category {
            "LIVRE" => BookSectionId::parse(g).is_ok(),
            "MUSIQUE_LIVE" | "MUSIQUE_ENREGISTREE" => MusicGenreId::parse(g).is_ok(),
            "SPECTACLE" => ShowTypeId::parse(g).is_ok(),
            _ => false,
        });
        traits(sub, genre, (v * 10 + s as u32, venue_type))
    })
}

#[derive(Debug, Clone)]
enum Op {
    Book(i64, OfferTraits),
    Cancel(usize),
}

fn arb_ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            4 => (0i64..20, arb_traits()).prop_map(|(at, t)| Op::Book(at, t)),
            1 => (0usize..20).prop_map(Op::Cancel),
        ],
        0..25,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, rng_seed: proptest::test_runner::RngSeed::Fixed(7), ..ProptestConfig::default() })]

    #[test]
    fn incremental_updates_equal_a_naive_recomputation(ops in arb_ops(), weighted in any::<bool>()) {
        let rules = if weighted { DiversificationRules::weighted() } else { DiversificationRules::deck() };
        let mut profile = UserProfile::new();
        let mut live: Vec<(String, i64, OfferTraits)> = Vec::new();
        for (n, op) in ops.into_iter().enumerate() {
            match op {
                Op::Book(at, t) => {
                    let id = format!("b{n:03}");
                    let before = profile.delta_div(&rules, &t);
                    let later_than_all = live.iter().all(|(i, a, _)| (*a, i.as_str()) < (at, id.as_str()));
                    let got = profile.book(&rules, &id, at, t);
                    if later_than_all {
                        prop_assert_eq!(got.points, before, "Δdiv announced the points");
                    }
                    live.push((id, at, t));
                }
                Op::Cancel(i) => {
                    if live.is_empty() { continue; }
                    let (id, _, _) = live.remove(i % live.len());
                    prop_assert!(profile.cancel(&rules, &id));
                }
            }
            let expected = naive_points(&rules, &live);
            let got: Vec<u32> = profile.history().iter().map(|b| b.points.points).collect();
            prop_assert_eq!(&got, &expected);
            prop_assert_eq!(profile.score(), expected.iter().sum::<u32>());
            prop_assert_eq!(&UserProfile::from_bookings(&rules, live.clone()), &profile);
        }
    }

    #[test]
    fn batch_scoring_equals_per_user_profiles(users in prop::collection::vec(arb_ops(), 1..6)) {
        let rules = DiversificationRules::deck();
        let mut table = BookingTable::default();
        let mut offers = Vec::new();
        let mut expected_scores = Vec::new();
        for (u, ops) in users.iter().enumerate() {
            let mut live: Vec<(String, i64, OfferTraits)> = Vec::new();
            for (n, op) in ops.iter().enumerate() {
                if let Op::Book(at, t) = op {
                    let cancelled = n % 5 == 4;
                    table.user.push(u as u32);
                    table.offer.push(offers.len() as u32);
                    table.at.push(*at);
                    table.tie.push(n as u64);
                    table.cancelled.push(cancelled);
                    offers.push(*t);
                    if !cancelled {
                        live.push((format!("b{n:03}"), *at, *t));
                    }
                }
            }
            expected_scores.push(UserProfile::from_bookings(&rules, live).score());
        }
        let scores = score_bookings(&rules, &offers, &table, users.len());
        prop_assert_eq!(&scores.user_score, &expected_scores);
        let total: u32 = scores.points.iter().sum();
        prop_assert_eq!(total, expected_scores.iter().sum::<u32>());
        for (i, c) in table.cancelled.iter().enumerate() {
            if *c { prop_assert_eq!(scores.points[i], 0); }
        }
    }
}
