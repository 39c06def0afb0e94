//! The synthetic world: deterministic per seed, and plausible.

use passeur_domain::{Interaction, InteractionKind, Timestamp};
use passeur_synth::{Scale, World, WorldConfig};
use std::collections::HashMap;

fn simulate(world: &World) -> (Vec<Interaction>, Vec<i64>) {
    let mut all = Vec::new();
    let credits = world.simulate(128, &mut |block| all.extend(block));
    (all, credits)
}

#[test]
fn the_same_seed_gives_the_same_world_and_another_seed_another() {
    let a = World::generate(WorldConfig::for_scale(Scale::Small, 11));
    let b = World::generate(WorldConfig::for_scale(Scale::Small, 11));
    assert_eq!(a.venues, b.venues);
    assert_eq!(a.offers, b.offers);
    assert_eq!(a.users, b.users);
    assert_eq!(a.truth, b.truth);
    // Block size (and so thread scheduling) does not change the interactions.
    let (ia, ca) = simulate(&a);
    let mut ib = Vec::new();
    let cb = b.simulate(7, &mut |block| ib.extend(block));
    assert_eq!(ia, ib);
    assert_eq!(ca, cb);
    let c = World::generate(WorldConfig::for_scale(Scale::Small, 12));
    assert_ne!(a.offers, c.offers);
}

#[test]
fn every_record_passes_the_domain_rules() {
    let world = World::generate(WorldConfig::for_scale(Scale::Small, 3));
    for v in &world.venues {
        v.validate().unwrap();
    }
    for o in &world.offers {
        o.validate().unwrap();
        if let Some(v) = world.venue_of(o) {
            o.validate_venue(v).unwrap();
        }
    }
    let (interactions, credits) = simulate(&world);
    for (u, c) in world.users_with_credit(&credits).iter().zip(&credits) {
        u.validate().unwrap();
        assert!(*c >= 0, "user {} has negative credit {c}", u.id);
    }
    for i in &interactions {
        i.validate().unwrap();
    }
}

#[test]
fn the_world_is_plausible() {
    let world = World::generate(WorldConfig::for_scale(Scale::Small, 5));
    let (interactions, credits) = simulate(&world);
    let offers: HashMap<&str, &passeur_domain::Offer> = world.offers.iter().map(|o| (o.id.as_str(), o)).collect();
    let users: HashMap<&str, &passeur_domain::User> = world.users.iter().map(|u| (u.id.as_str(), u)).collect();
    let end = world.config.end();

    // Users are 15 to 18 on the reference date, with the credit of their age and never below zero.
    for u in &world.users {
        let age = u.age_on(end.date());
        assert!((15..=18).contains(&age), "user {} is {age}", u.id);
        assert!(u.credit_cents <= world.config.credit.granted_up_to(18));
    }
    assert!(credits.iter().all(|c| *c >= 0));

    let mut by_category: HashMap<&str, usize> = HashMap::new();
    let (mut bookings, mut near, mut located) = (0usize, 0usize, 0usize);
    let mut spent: HashMap<&str, i64> = HashMap::new();
    let mut cancelled = std::collections::HashSet::new();
    for i in &interactions {
        if let InteractionKind::Cancellation { booking_id } = &i.kind {
            cancelled.insert(booking_id.clone());
        }
    }
    for i in &interactions {
        let InteractionKind::Booking { amount_cents, .. } = i.kind else { continue };
        let offer = offers[i.offer_id.as_str()];
        bookings += 1;
        // Never outside the offer's booking window, nor after its event started.
        assert!(offer.bookable_from.is_none_or(|f| i.at >= f), "{} booked before its window", offer.id);
        assert!(offer.bookable_until.is_none_or(|u| i.at <= u), "{} booked after its window", offer.id);
        assert!(offer.event_start.is_none_or(|s| i.at <= s), "{} booked after the event", offer.id);
        assert!(i.at < end.plus_days(3) && i.at >= Timestamp::from_date(world.config.start));
        if !cancelled.contains(&i.id) {
            *by_category.entry(offer.category().canonical()).or_default() += 1;
            *spent.entry(i.user_id.as_str()).or_default() += amount_cents;
        }
        if let Some(d) = world.distance_km(users[i.user_id.as_str()], offer) {
            located += 1;
            if d <= 50.0 {
                near += 1;
            }
        }
    }
    assert!(bookings > world.users.len() * 3, "{bookings} bookings for {} users", world.users.len());
    // Books dominate, as on the platform (about 71 % of bookings), but not alone.
    let books = by_category["LIVRE"] as f64 / by_category.values().sum::<usize>() as f64;
    assert!((0.5..=0.9).contains(&books), "book share {books}");
    assert!(by_category.len() >= 8, "{by_category:?}");
    // Young people book near home.
    assert!(near as f64 >= 0.9 * located as f64, "{near} of {located} located bookings within 50 km");
    // Credit spent plus credit left is what was granted.
    for (u, left) in world.users.iter().zip(&credits) {
        assert_eq!(spent.get(u.id.as_str()).copied().unwrap_or(0) + left, u.credit_cents, "user {}", u.id);
    }
    // Several offers share an item (one product at several venues).
    let items: std::collections::HashSet<&str> = world.offers.iter().map(|o| o.item_id.as_str()).collect();
    assert!(items.len() < world.offers.len() * 9 / 10);
}

#[test]
fn offer_text_carries_its_genre() {
    let world = World::generate(WorldConfig::for_scale(Scale::Small, 9));
    let manga = world.offers.iter().find(|o| o.book_macro_section.is_some_and(|b| b.canonical() == "Manga")).unwrap();
    assert!(manga.description.contains("Manga"), "{}", manga.description);
    let rap = world.offers.iter().find(|o| o.music_genre.is_some_and(|g| g.canonical() == "Rap/ Hip Hop")).unwrap();
    assert!(rap.description.contains("Rap/ Hip Hop"), "{}", rap.description);
}
