//! One conformance suite, run against every backend: exact (in memory), IVF
//! (in memory), and with the `lancedb` feature LanceDB exact, IVF-PQ and IVF-HNSW-SQ. Same
//! results as exact search up to recall; every filter honoured by all.

use passeur_domain::GeoPoint;
use passeur_index::playlist::{PlaylistConfig, PlaylistContext, build};
#[cfg(feature = "lancedb")]
use passeur_index::{AnnKind, LanceIndex, LanceParams};
use passeur_index::{
    ExactIndex, Filters, Hit, IndexedOffer, IvfIndex, IvfParams, Near, VectorIndex, dot, one_per_item,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const DIM: usize = 16;
const N: usize = 3000;
const NOW: i64 = 1_700_000_000;
const DAY: i64 = 86_400;
const CATEGORIES: [&str; 5] = ["LIVRE", "CINEMA", "MUSIQUE_LIVE", "MUSEE", "INSTRUMENT"];
const CITIES: [(f64, f64, &str); 3] = [(48.85, 2.35, "75"), (45.76, 4.84, "69"), (43.30, 5.37, "13")];

fn unit(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
    v.iter_mut().for_each(|x| *x /= n);
}

fn random_vector(rng: &mut ChaCha8Rng, centre: Option<&[f32]>) -> Vec<f32> {
    let mut v: Vec<f32> = (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect();
    if let Some(c) = centre {
        v.iter_mut().zip(c).for_each(|(x, c)| *x = 0.5 * *x + 2.0 * c);
    }
    unit(&mut v);
    v
}

/// A catalogue where every field varies: clustered vectors, prices, windows, stock, places, ages, events.
fn catalogue() -> Vec<IndexedOffer> {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let centres: Vec<Vec<f32>> = (0..8).map(|_| random_vector(&mut rng, None)).collect();
    (0..N)
        .map(|i| {
            let c = &centres[i % centres.len()];
            let city = CITIES[i % 3];
            let digital = i % 10 == 0;
            let event = i % 4 == 1;
            IndexedOffer {
                offer_id: format!("o{i:05}"),
                item_id: format!("it{:05}", i / 2),
                vector: random_vector(&mut rng, Some(c)),
                category: CATEGORIES[i % 5].to_owned(),
                subcategory: "X".into(),
                format: if event {
                    "event"
                } else if digital {
                    "digital"
                } else {
                    "physical"
                }
                .into(),
                price_cents: rng.random_range(0..20_000),
                bookable_from: (i % 7 == 0).then_some(NOW - 10 * DAY),
                bookable_until: (i % 11 == 0).then_some(NOW + rng.random_range(-5..30) * DAY),
                event_start: event.then(|| NOW + rng.random_range(-3..60) * DAY),
                stock: if i % 13 == 0 { Some(rng.random_range(0..3)) } else { None },
                location: (!digital).then(|| GeoPoint {
                    lat: city.0 + rng.random_range(-0.5..0.5),
                    lon: city.1 + rng.random_range(-0.5..0.5),
                }),
                digital,
                min_age: if i % 17 == 0 { 18 } else { 15 },
                created_at: NOW - rng.random_range(0..400) * DAY,
                department: (!digital).then(|| city.2.to_owned()),
                popularity: rng.random_range(0..1000),
            }
        })
        .collect()
}

fn backends(offers: &[IndexedOffer], dir: &std::path::Path) -> Vec<Box<dyn VectorIndex>> {
    let mut exact = ExactIndex::new(DIM);
    exact.upsert(offers).unwrap();
    // Partitions probed always, and with the planner scanning the price and radius posting lists exactly
    // when they hold at most a fifth of the offers.
    let ivf =
        IvfIndex::build(DIM, offers, IvfParams { partitions: 40, nprobe: 8, exact_below: 0, ..IvfParams::default() })
            .unwrap();
    let planned = IvfIndex::build(
        DIM,
        offers,
        IvfParams { partitions: 40, nprobe: 8, exact_below: offers.len() / 5, ..IvfParams::default() },
    )
    .unwrap();
    #[cfg_attr(not(feature = "lancedb"), allow(unused_mut))]
    let mut backends: Vec<Box<dyn VectorIndex>> = vec![Box::new(exact), Box::new(ivf), Box::new(planned)];
    #[cfg(feature = "lancedb")]
    {
        let lance_exact = LanceIndex::build(
            &dir.join("exact"),
            DIM,
            offers,
            LanceParams { exact_below: 1_000_000, ..LanceParams::default() },
        )
        .unwrap();
        let pq = LanceIndex::build(
            &dir.join("pq"),
            DIM,
            offers,
            LanceParams { exact_below: 1000, partitions: 16, sub_vectors: 4, nprobes: 8, ..LanceParams::default() },
        )
        .unwrap();
        let hnsw = LanceIndex::build(
            &dir.join("hnsw"),
            DIM,
            offers,
            LanceParams {
                ann: AnnKind::IvfHnswSq,
                exact_below: 1000,
                partitions: 16,
                nprobes: 4,
                ..LanceParams::default()
            },
        )
        .unwrap();
        backends.extend([Box::new(lance_exact) as Box<dyn VectorIndex>, Box::new(pq), Box::new(hnsw)]);
    }
    #[cfg(not(feature = "lancedb"))]
    let _ = dir;
    backends
}

fn user_filters(rng: &mut ChaCha8Rng) -> Filters {
    let city = CITIES[rng.random_range(0..3)];
    Filters {
        max_price_cents: Some(rng.random_range(2000..30_000)),
        bookable_at: Some(NOW),
        exclude_offers: vec!["o00003".into(), "o00004".into()],
        near: Some(Near { point: GeoPoint { lat: city.0, lon: city.1 }, radius_km: 40.0, include_digital: true }),
        user_age: Some(rng.random_range(15..19)),
        ..Filters::default()
    }
}

fn recall(got: &[Hit], want: &[Hit]) -> f64 {
    if want.is_empty() {
        return 1.0;
    }
    want.iter().filter(|w| got.iter().any(|g| g.offer_id == w.offer_id)).count() as f64 / want.len() as f64
}

fn check_results(index: &dyn VectorIndex, offers: &[IndexedOffer], q: &[f32], f: &Filters, hits: &[Hit]) {
    let name = index.name();
    for w in hits.windows(2) {
        assert!(w[0].score >= w[1].score - 1e-5, "{name}: results out of order");
    }
    for h in hits {
        let o = offers.iter().find(|o| o.offer_id == h.offer_id).unwrap();
        assert!(f.matches(o), "{name}: {} does not pass {f:?}", h.offer_id);
        assert!((h.score - dot(q, &o.vector)).abs() < 2e-3, "{name}: score {} vs dot {}", h.score, dot(q, &o.vector));
    }
}

#[test]
fn every_backend_matches_exact_search_up_to_recall_with_and_without_filters() {
    let offers = catalogue();
    let dir = tempfile::tempdir().unwrap();
    let all = backends(&offers, dir.path());
    let reference = &all[0];
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let queries: Vec<(Vec<f32>, Filters)> = (0..40)
        .map(|i| (random_vector(&mut rng, None), if i % 2 == 0 { Filters::default() } else { user_filters(&mut rng) }))
        .collect();
    for index in &all {
        assert_eq!(index.len().unwrap(), N, "{}", index.name());
        let mut total = 0.0;
        for (q, f) in &queries {
            let want = reference.search(q, f, 10).unwrap();
            let got = index.search(q, f, 10).unwrap();
            assert!(got.len() <= 10);
            check_results(index.as_ref(), &offers, q, f, &got);
            total += recall(&got, &want);
        }
        let mean = total / queries.len() as f64;
        let floor = if index.name().contains("exact") { 1.0 } else { 0.85 };
        assert!(mean >= floor, "{}: recall@10 {mean}", index.name());
    }
}

/// Offers built to be the best match of a query, each failing exactly one filter.
#[test]
fn each_filter_removes_the_offer_it_should_on_every_backend() {
    let mut offers = catalogue();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let q = random_vector(&mut rng, None);
    let paris = GeoPoint { lat: 48.85, lon: 2.35 };
    let base = IndexedOffer {
        offer_id: "target".into(),
        item_id: "target-item".into(),
        vector: q.clone(),
        category: "LIVRE".into(),
        subcategory: "X".into(),
        format: "physical".into(),
        price_cents: 1000,
        bookable_from: None,
        bookable_until: None,
        event_start: None,
        stock: Some(3),
        location: Some(GeoPoint { lat: 48.86, lon: 2.36 }),
        digital: false,
        min_age: 15,
        created_at: NOW - DAY,
        department: Some("75".into()),
        popularity: 5,
    };
    let cases: Vec<(&str, IndexedOffer)> = vec![
        ("sold-out", IndexedOffer { offer_id: "sold-out".into(), stock: Some(0), ..base.clone() }),
        ("expired", IndexedOffer { offer_id: "expired".into(), bookable_until: Some(NOW - DAY), ..base.clone() }),
        ("not-yet", IndexedOffer { offer_id: "not-yet".into(), bookable_from: Some(NOW + DAY), ..base.clone() }),
        ("started", IndexedOffer { offer_id: "started".into(), event_start: Some(NOW - 3600), ..base.clone() }),
        ("expensive", IndexedOffer { offer_id: "expensive".into(), price_cents: 40_000, ..base.clone() }),
        (
            "far",
            IndexedOffer {
                offer_id: "far".into(),
                location: Some(GeoPoint { lat: 43.6, lon: 1.44 }),
                department: Some("31".into()),
                ..base.clone()
            },
        ),
        ("adult", IndexedOffer { offer_id: "adult".into(), min_age: 18, ..base.clone() }),
        ("booked", IndexedOffer { offer_id: "booked".into(), ..base.clone() }),
    ];
    let digital =
        IndexedOffer { offer_id: "digital".into(), location: None, digital: true, department: None, ..base.clone() };
    // Nudge each case's vector a little so the exact order is defined.
    for (k, (_, o)) in cases.iter().enumerate() {
        let mut o = o.clone();
        o.vector[0] += 1e-3 * k as f32;
        unit(&mut o.vector);
        offers.push(o);
    }
    offers.push(digital.clone());
    let filters = Filters {
        max_price_cents: Some(30_000),
        bookable_at: Some(NOW),
        exclude_offers: vec!["booked".into()],
        near: Some(Near { point: paris, radius_km: 30.0, include_digital: true }),
        user_age: Some(16),
        ..Filters::default()
    };
    let dir = tempfile::tempdir().unwrap();
    for index in backends(&offers, dir.path()) {
        let name = index.name();
        let open = index.search(&q, &Filters::default(), 12).unwrap();
        for (case, _) in &cases {
            assert!(open.iter().any(|h| h.offer_id == *case), "{name}: {case} is found without filters");
        }
        let hits = index.search(&q, &filters, 12).unwrap();
        for (case, _) in &cases {
            assert!(!hits.iter().any(|h| h.offer_id == *case), "{name}: {case} passed the filters");
        }
        assert_eq!(hits.first().map(|h| h.offer_id.as_str()), Some("digital"), "{name}: the digital offer passes");
        let no_digital =
            Filters { near: Some(Near { point: paris, radius_km: 30.0, include_digital: false }), ..filters.clone() };
        let hits = index.search(&q, &no_digital, 12).unwrap();
        assert!(!hits.iter().any(|h| h.offer_id == "digital"), "{name}: digital excluded when asked");
        // Category, event window, creation date and department filters.
        let only_cinema = Filters { categories: vec!["CINEMA".into()], ..Filters::default() };
        assert!(index.search(&q, &only_cinema, 20).unwrap().iter().all(|h| h.category == "CINEMA"), "{name}");
        let soon = Filters { event_between: Some((NOW, NOW + 7 * DAY)), ..Filters::default() };
        for h in index.search(&q, &soon, 20).unwrap() {
            let s = h.event_start.unwrap();
            assert!((NOW..=NOW + 7 * DAY).contains(&s), "{name}: event at {s}");
        }
        let new = Filters { created_after: Some(NOW - 30 * DAY), ..Filters::default() };
        assert!(index.search(&q, &new, 20).unwrap().iter().all(|h| h.created_at >= NOW - 30 * DAY), "{name}");
        let dept = Filters { department: Some("69".into()), ..Filters::default() };
        let hits = index.search(&q, &dept, 20).unwrap();
        assert!(!hits.is_empty());
        for h in hits {
            let o = offers.iter().find(|o| o.offer_id == h.offer_id).unwrap();
            assert_eq!(o.department.as_deref(), Some("69"), "{name}");
        }
    }
}

#[test]
fn updates_apply_at_once_without_a_rebuild() {
    let offers = catalogue();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    for mut index in backends(&offers, dir.path()) {
        let name = index.name();
        let q = random_vector(&mut rng, None);
        let fresh = IndexedOffer {
            offer_id: "fresh".into(),
            item_id: "fresh-item".into(),
            vector: q.clone(),
            ..offers[5].clone()
        };
        index.upsert(std::slice::from_ref(&fresh)).unwrap();
        assert_eq!(index.len().unwrap(), N + 1, "{name}");
        let filters = Filters { bookable_at: Some(NOW), ..Filters::default() };
        assert_eq!(index.search(&q, &filters, 5).unwrap()[0].offer_id, "fresh", "{name}: new offer found at once");
        // Sold out: it disappears from bookable results.
        index.upsert(&[IndexedOffer { stock: Some(0), ..fresh.clone() }]).unwrap();
        assert_eq!(index.len().unwrap(), N + 1, "{name}: an update is not an insert");
        assert!(index.search(&q, &filters, 5).unwrap().iter().all(|h| h.offer_id != "fresh"), "{name}");
        // Back in stock with a new vector, then removed.
        let mut moved = IndexedOffer { stock: None, ..fresh.clone() };
        moved.vector = random_vector(&mut rng, None);
        index.upsert(std::slice::from_ref(&moved)).unwrap();
        assert_eq!(index.search(&moved.vector, &Filters::default(), 3).unwrap()[0].offer_id, "fresh", "{name}");
        index.remove(&["fresh".into(), "unknown".into()]).unwrap();
        assert_eq!(index.len().unwrap(), N, "{name}");
        assert!(index.search(&moved.vector, &Filters::default(), 10).unwrap().iter().all(|h| h.offer_id != "fresh"));
        index.optimize().unwrap();
        assert_eq!(index.len().unwrap(), N, "{name}: optimize keeps every offer");
    }
}

#[test]
fn bad_vectors_and_queries_are_refused_with_the_offer_or_field_named() {
    let offers = catalogue();
    let dir = tempfile::tempdir().unwrap();
    for mut index in backends(&offers[..500], dir.path()) {
        let bad = IndexedOffer { offer_id: "short".into(), vector: vec![0.5; DIM - 1], ..offers[0].clone() };
        let err = index.upsert(&[bad]).unwrap_err().to_string();
        assert!(err.contains("short") && err.contains("components"), "{err}");
        let mut nan = offers[1].clone();
        nan.offer_id = "nan".into();
        nan.vector[2] = f32::NAN;
        assert!(index.upsert(&[nan]).unwrap_err().to_string().contains("nan"));
        let err = index.search(&[0.1; 3], &Filters::default(), 5).unwrap_err().to_string();
        assert!(err.contains("vector"), "{err}");
        assert_eq!(index.len().unwrap(), 500, "nothing half-applied");
    }
}

#[cfg(feature = "lancedb")]
#[test]
fn lance_queries_use_the_vector_index_with_the_dot_metric() {
    let offers = catalogue();
    let dir = tempfile::tempdir().unwrap();
    let pq = LanceIndex::build(
        dir.path(),
        DIM,
        &offers,
        LanceParams { exact_below: 1000, partitions: 16, sub_vectors: 4, ..LanceParams::default() },
    )
    .unwrap();
    assert!(pq.has_vector_index().unwrap());
    let plan = pq.explain(&offers[0].vector, &Filters::default(), 10).unwrap();
    // A query whose metric differed from the index's would run a flat scan instead of the ANN operators.
    assert!(plan.contains("ANNSubIndex") && plan.contains("metric=Dot"), "the plan does not use the index:\n{plan}");
    let small = LanceIndex::build(&dir.path().join("small"), DIM, &offers[..200], LanceParams::default()).unwrap();
    assert!(!small.has_vector_index().unwrap(), "below the threshold search stays exact");
}

#[test]
fn one_offer_per_item_keeps_the_nearest_venue() {
    let at = |lat: f64| Some(GeoPoint { lat, lon: 2.35 });
    let hit = |offer: &str, item: &str, score: f32, location| Hit {
        offer_id: offer.into(),
        item_id: item.into(),
        score,
        category: "LIVRE".into(),
        location,
        digital: false,
        popularity: 0,
        created_at: 0,
        event_start: None,
    };
    let hits = vec![
        hit("far", "book", 0.9, at(49.5)),
        hit("other", "film", 0.8, at(48.9)),
        hit("near", "book", 0.7, at(48.86)),
    ];
    let kept = one_per_item(hits, Some(GeoPoint { lat: 48.85, lon: 2.35 }));
    let ids: Vec<&str> = kept.iter().map(|h| h.offer_id.as_str()).collect();
    assert_eq!(ids, ["near", "other"]);
    assert_eq!(kept[0].score, 0.9, "the item keeps its best score");
}

#[test]
fn playlists_follow_their_definitions_on_every_backend() {
    let config = PlaylistConfig::builtin();
    assert!(config.playlist.len() >= 6);
    let offers = catalogue();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let user = random_vector(&mut rng, None);
    let paris = GeoPoint { lat: 48.85, lon: 2.35 };
    let ctx = PlaylistContext {
        user_vector: Some(&user),
        seed_offer: Some((&offers[10].offer_id, &offers[10].item_id, &offers[10].vector)),
        filters: Filters {
            bookable_at: Some(NOW),
            near: Some(Near { point: paris, radius_km: 60.0, include_digital: true }),
            user_age: Some(17),
            ..Filters::default()
        },
        now: NOW,
        department: Some("75".into()),
        location: Some(paris),
    };
    for index in backends(&offers, dir.path()) {
        let name = index.name();
        for spec in &config.playlist {
            let list = build(index.as_ref(), spec, &ctx).unwrap().unwrap();
            assert!(
                !list.hits.is_empty() && list.hits.len() <= spec.size,
                "{name}: {} has {}",
                spec.name,
                list.hits.len()
            );
            let mut items: Vec<&str> = list.hits.iter().map(|h| h.item_id.as_str()).collect();
            items.sort_unstable();
            items.dedup();
            assert_eq!(items.len(), list.hits.len(), "{name}: {} repeats an item", spec.name);
            for h in &list.hits {
                let o = offers.iter().find(|o| o.offer_id == h.offer_id).unwrap();
                assert!(o.min_age <= 17, "{name}: {}", spec.name);
                match spec.name.as_str() {
                    "similar" => assert_ne!(o.item_id, offers[10].item_id),
                    "this_week" => assert!((NOW..=NOW + 7 * DAY).contains(&o.event_start.unwrap())),
                    "new" => assert!(o.created_at >= NOW - 30 * DAY),
                    "tops_here" => assert_eq!(o.department.as_deref(), Some("75")),
                    _ => {}
                }
            }
            if spec.name == "tops_here" {
                assert!(list.hits.windows(2).all(|w| w[0].popularity >= w[1].popularity), "{name}");
            }
            if spec.name == "discover" {
                let mut cats: Vec<&str> = list.hits.iter().map(|h| h.category.as_str()).collect();
                cats.sort_unstable();
                cats.dedup();
                assert_eq!(cats.len(), list.hits.len(), "{name}: one per category");
            }
        }
        let no_user = PlaylistContext { user_vector: None, ..ctx.clone() };
        assert!(build(index.as_ref(), config.get("for_you").unwrap(), &no_user).unwrap().is_none());
    }
}

#[test]
fn playlist_files_are_checked_with_the_field_named() {
    let err = PlaylistConfig::parse(
        "[[playlist]]\nname = \"soon\"\ntitle = \"t\"\nkind = \"happening_soon\"\ndays = 0\n",
        "x.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("soon") && err.contains("days"), "{err}");
    let err = PlaylistConfig::parse("[[playlist]]\nname = \"a\"\ntitle = \"t\"\nkind = \"sideways\"\n", "x.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("x.toml") && err.contains("sideways"), "{err}");
    let err = PlaylistConfig::parse(
        "[[playlist]]\nname = \"a\"\ntitle = \"t\"\nkind = \"closest_to_user\"\nsize = 0\n",
        "x.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("size"), "{err}");
}

/// The IVF's packed runs and their prefilter against exact search: probing every partition, the IVF must
/// return exactly the exact backend's hits for filtered queries, after building, after upserts and
/// removals (probed from the delta), and after `optimize` repacks.
#[test]
fn the_packed_ivf_probing_every_partition_equals_exact_search_through_updates() {
    // Probing every partition, or answering from the posting lists whenever a filter allows it.
    for exact_below in [0, 1_000_000] {
        let offers = catalogue();
        packed_equals_exact(offers, IvfParams { partitions: 30, nprobe: 30, exact_below, ..IvfParams::default() });
    }
}

fn packed_equals_exact(mut offers: Vec<IndexedOffer>, params: IvfParams) {
    let mut exact = ExactIndex::new(DIM);
    exact.upsert(&offers).unwrap();
    let mut ivf = IvfIndex::build(DIM, &offers, params).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let same = |ivf: &IvfIndex, exact: &ExactIndex, rng: &mut ChaCha8Rng, stage: &str| {
        for q in 0..60 {
            let v = random_vector(rng, None);
            let mut f = user_filters(rng);
            if q % 3 == 0 {
                f.near.as_mut().unwrap().include_digital = false;
            }
            if q % 5 == 0 {
                f = Filters::default();
            }
            let want = exact.search(&v, &f, 10).unwrap();
            let got = ivf.search(&v, &f, 10).unwrap();
            let ids = |h: &[Hit]| h.iter().map(|x| x.offer_id.clone()).collect::<Vec<_>>();
            assert_eq!(ids(&got), ids(&want), "{stage}, query {q}: {f:?}");
        }
    };
    same(&ivf, &exact, &mut rng, "built");
    // Change a tenth of the offers (vector, price, place, stock), add new ones, remove some.
    for (i, o) in offers.iter_mut().enumerate().filter(|(i, _)| i % 10 == 3) {
        o.vector = random_vector(&mut rng, None);
        o.price_cents = rng.random_range(0..5_000);
        o.stock = (i % 20 == 3).then_some(0);
        if let Some(l) = o.location.as_mut() {
            l.lat += 0.3;
        }
    }
    let changed: Vec<IndexedOffer> =
        offers.iter().enumerate().filter(|(i, _)| i % 10 == 3).map(|(_, o)| o.clone()).collect();
    let mut added = catalogue()[..200].to_vec();
    for (i, o) in added.iter_mut().enumerate() {
        o.offer_id = format!("new{i:04}");
        o.vector = random_vector(&mut rng, None);
    }
    let removed: Vec<String> = offers.iter().step_by(37).map(|o| o.offer_id.clone()).collect();
    for index in [&mut exact as &mut dyn VectorIndex, &mut ivf] {
        index.upsert(&changed).unwrap();
        index.upsert(&added).unwrap();
        index.remove(&removed).unwrap();
    }
    same(&ivf, &exact, &mut rng, "after updates");
    ivf.optimize().unwrap();
    same(&ivf, &exact, &mut rng, "after optimize");
    // A user younger than every offer's minimum age gets nothing, at once; at 15, offers again.
    let v = random_vector(&mut rng, None);
    for (age, empty) in [(10, true), (15, false)] {
        let f = Filters { user_age: Some(age), ..Filters::default() };
        let (got, want) = (ivf.search(&v, &f, 10).unwrap(), exact.search(&v, &f, 10).unwrap());
        assert_eq!(got.is_empty(), empty, "age {age}");
        assert_eq!(
            got.iter().map(|h| &h.offer_id).collect::<Vec<_>>(),
            want.iter().map(|h| &h.offer_id).collect::<Vec<_>>()
        );
    }
}

#[test]
fn an_ivf_built_on_saved_centroids_answers_as_the_one_that_trained_them() {
    let offers = catalogue();
    let params = IvfParams { partitions: 40, nprobe: 8, exact_below: 0, ..IvfParams::default() };
    let trained = IvfIndex::build(DIM, &offers, params).unwrap();
    assert_eq!(trained.centroids().len(), 40 * DIM);
    let reused = IvfIndex::build_with_centroids(DIM, &offers, params, trained.centroids().to_vec()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    for i in 0..60 {
        let q = random_vector(&mut rng, None);
        let f = if i % 2 == 0 { Filters::default() } else { user_filters(&mut rng) };
        assert_eq!(trained.search(&q, &f, 20).unwrap(), reused.search(&q, &f, 20).unwrap(), "query {i}");
    }
    // Centroids of another dimension are refused, naming what is wrong.
    let err = IvfIndex::build_with_centroids(DIM, &offers, params, vec![0.0; DIM * 3 + 1]).unwrap_err();
    assert!(err.to_string().contains("centroids"), "{err}");
}

#[test]
fn saved_centroids_are_reused_only_for_the_same_offers_and_parameters() {
    let offers = catalogue();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ivf-centroids.bin");
    let params = IvfParams { partitions: 40, nprobe: 8, exact_below: 0, ..IvfParams::default() };
    let (first, reused) = IvfIndex::build_saved(DIM, &offers, params, &path).unwrap();
    assert!(!reused && path.exists());
    let (second, reused) = IvfIndex::build_saved(DIM, &offers, params, &path).unwrap();
    assert!(reused);
    assert_eq!(first.centroids(), second.centroids());
    let q = random_vector(&mut ChaCha8Rng::seed_from_u64(3), None);
    assert_eq!(first.search(&q, &Filters::default(), 20).unwrap(), second.search(&q, &Filters::default(), 20).unwrap());
    // One vector moved, or other parameters: trained again (and saved for them).
    let mut moved = offers.clone();
    moved[7].vector[0] += 0.5;
    assert!(!IvfIndex::build_saved(DIM, &moved, params, &path).unwrap().1);
    let other = IvfParams { seed: 7, ..params };
    assert!(!IvfIndex::build_saved(DIM, &moved, other, &path).unwrap().1);
    assert!(IvfIndex::build_saved(DIM, &moved, other, &path).unwrap().1);
    // A damaged file is not read: trained again.
    std::fs::write(&path, b"PIVFCEN1 truncated").unwrap();
    assert!(!IvfIndex::build_saved(DIM, &offers, params, &path).unwrap().1);
}
