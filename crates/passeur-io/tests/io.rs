//! Import and export: round trips in every format, all-or-nothing imports
//! with errors that name file, line and field, idempotent re-imports.

mod common;

use passeur_domain::{Interaction, Offer, User, Venue};
use passeur_io::{
    EntityKind, FileFormat, ImportFile, ImportOptions, IoError, RecordWriter, RowError, export_store, import_files,
    read_records,
};
use passeur_store::{RecordStore, SqliteStore};
use passeur_synth::{Scale, World, WorldConfig};
use std::path::Path;

struct Records {
    venues: Vec<Venue>,
    offers: Vec<Offer>,
    users: Vec<User>,
    interactions: Vec<Interaction>,
}

fn small_world(seed: u64) -> Records {
    let mut world = World::generate(WorldConfig::for_scale(Scale::Small, seed));
    let mut interactions = Vec::new();
    let credits = world.simulate(256, &mut |b| interactions.extend(b));
    // Some image embeddings, to carry lists through every format.
    for (i, o) in world.offers.iter_mut().enumerate().filter(|(i, _)| i % 7 == 0) {
        o.image_embedding = Some(vec![0.1 * i as f32, -1.0 / 3.0, 1e-7, 12345.678]);
    }
    Records {
        venues: world.venues.clone(),
        offers: world.offers.clone(),
        users: world.users_with_credit(&credits),
        interactions,
    }
}

fn write(records: &Records, dir: &Path, format: FileFormat) {
    common::write_files(dir, format, &records.venues, &records.offers, &records.users, &records.interactions);
}

fn import_dir(store: &mut SqliteStore, dir: &Path) -> Result<u64, IoError> {
    let files = ImportFile::discover(dir).unwrap();
    import_files(store, &files, &ImportOptions::default(), &mut |_| {}).map(|r| r.total())
}

fn scan(store: &SqliteStore) -> Records {
    let mut r = Records { venues: vec![], offers: vec![], users: vec![], interactions: vec![] };
    store
        .scan_venues(&mut |v| {
            r.venues.push(v);
            Ok(())
        })
        .unwrap();
    store
        .scan_offers(&mut |v| {
            r.offers.push(v);
            Ok(())
        })
        .unwrap();
    store
        .scan_users(&mut |v| {
            r.users.push(v);
            Ok(())
        })
        .unwrap();
    store
        .scan_interactions(&mut |v| {
            r.interactions.push(v);
            Ok(())
        })
        .unwrap();
    r
}

fn same<T: PartialEq + std::fmt::Debug>(what: &str, a: &[T], b: &[T]) {
    assert_eq!(a.len(), b.len(), "number of {what}");
    if let Some(i) = (0..a.len()).find(|i| a[*i] != b[*i]) {
        panic!("{what} #{i} differs:\n{:?}\n{:?}", a[i], b[i]);
    }
}

fn assert_same(a: &Records, b: &Records) {
    same("venues", &a.venues, &b.venues);
    same("offers", &a.offers, &b.offers);
    same("users", &a.users, &b.users);
    same("interactions", &a.interactions, &b.interactions);
}

#[test]
fn export_then_import_round_trips_exactly_in_every_format() {
    let original = small_world(21);
    let tmp = tempfile::tempdir().unwrap();
    write(&original, &tmp.path().join("in"), FileFormat::Parquet);
    let mut store = SqliteStore::open(&tmp.path().join("store")).unwrap();
    import_dir(&mut store, &tmp.path().join("in")).unwrap();
    assert_same(&scan(&store), &original);

    for format in [FileFormat::Csv, FileFormat::JsonLines, FileFormat::Parquet] {
        let out = tmp.path().join(format!("out-{}", format.extension()));
        let written = export_store(&store, &out, format, &mut |_| {}).unwrap();
        assert_eq!(written[&EntityKind::Offers], original.offers.len() as u64);
        let mut copy = SqliteStore::open(&tmp.path().join(format!("copy-{}", format.extension()))).unwrap();
        import_dir(&mut copy, &out).unwrap();
        assert_same(&scan(&copy), &original);
        // And the second export is byte-for-byte the first.
        let again = tmp.path().join(format!("again-{}", format.extension()));
        export_store(&copy, &again, format, &mut |_| {}).unwrap();
        if format != FileFormat::Parquet {
            for kind in EntityKind::ALL {
                let name = format!("{}.{}", kind.stem(), format.extension());
                assert_eq!(
                    std::fs::read(out.join(&name)).unwrap(),
                    std::fs::read(again.join(&name)).unwrap(),
                    "{name}"
                );
            }
        }
        // Records read straight from the files match too.
        let offers: Vec<Offer> = read_records(&out.join(format!("offers.{}", format.extension()))).unwrap();
        assert_eq!(offers, original.offers);
    }
}

#[test]
fn reimporting_the_same_files_is_idempotent() {
    let original = small_world(22);
    let tmp = tempfile::tempdir().unwrap();
    write(&original, tmp.path(), FileFormat::Csv);
    let mut store = SqliteStore::open(&tmp.path().join("store")).unwrap();
    let n = import_dir(&mut store, tmp.path()).unwrap();
    let before = store.counts().unwrap();
    assert_eq!(import_dir(&mut store, tmp.path()).unwrap(), n);
    assert_eq!(store.counts().unwrap(), before);
    assert_same(&scan(&store), &original);
}

fn rejected(result: Result<u64, IoError>) -> Vec<RowError> {
    match result {
        Err(IoError::Rejected { errors, total }) => {
            assert_eq!(errors.len(), total);
            errors
        }
        other => panic!("expected a rejected import, got {other:?}"),
    }
}

fn check(errors: &[RowError], expected: &[(&str, u64, Option<&str>, &str)]) {
    let got: Vec<(String, u64, Option<String>)> = errors
        .iter()
        .map(|e| (Path::new(&e.file).file_name().unwrap().to_string_lossy().into_owned(), e.line, e.field.clone()))
        .collect();
    let want: Vec<(String, u64, Option<String>)> =
        expected.iter().map(|(f, l, field, _)| (f.to_string(), *l, field.map(str::to_owned))).collect();
    assert_eq!(got, want, "{errors:#?}");
    for (e, (_, _, _, reason)) in errors.iter().zip(expected) {
        assert!(e.reason.contains(reason), "{:?} should contain {reason:?}", e.reason);
    }
}

#[test]
fn a_bad_csv_import_names_every_bad_line_and_field_and_applies_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("venues.csv"),
        "id,name,venue_type,latitude,longitude,city,department,partner_id\n\
         v1,Librairie A,BOOKSTORE,48.85,2.35,Paris,75,p1\n\
         v2,Salle B,CONCERT_HAL,48.85,2.35,Paris,75,p1\n\
         v3,Musée C,MUSEUM,95.0,2.35,Paris,75,p2\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("offers.csv"),
        "id,item_id,title,subcategory,price_cents,created_at,venue_id\n\
         o1,i1,Un livre,LIVRE_PAPIER,1200,2024-01-01T10:00:00Z,v1\n\
         o2,i2,Un autre,LIVRE_PAPIER,douze,2024-01-01T10:00:00Z,v1\n\
         o3,i3,Encore,LIVRE_PAPIER,800,hier,v1\n\
         o4,i4,Sans lieu,LIVRE_PAPIER,800,2024-01-01T10:00:00Z,v404\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("users.csv"),
        "id,birth_date,department,credit_cents\nu1,2007-05-01,75,30000\nu2,2007-05-01,75,-5\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("interactions.csv"),
        "id,kind,user_id,offer_id,at,amount_cents\n\
         b1,booking,u1,o1,2024-02-01T10:00:00Z,1200\n\
         b2,booking,u1,o1,2024-02-01T10:00:00Z,\n\
         c1,click,u1,o1,2024-02-01T10:00:00Z,\n\
         b3,booking,u9,o1,2024-02-01T10:00:00Z,100\n",
    )
    .unwrap();
    let mut store = SqliteStore::open(&dir.join("store")).unwrap();
    let errors = rejected(import_dir(&mut store, dir));
    check(
        &errors,
        &[
            ("interactions.csv", 3, Some("amount_cents"), "required for a booking"),
            ("interactions.csv", 4, Some("kind"), "\"click\" is not one of"),
            ("interactions.csv", 5, Some("user_id"), "no user with id \"u9\""),
            ("offers.csv", 3, Some("price_cents"), "\"douze\" is not an integer"),
            ("offers.csv", 4, Some("created_at"), "not an RFC 3339 timestamp"),
            ("offers.csv", 5, Some("venue_id"), "no venue with id \"v404\""),
            ("users.csv", 3, Some("credit_cents"), "negative"),
            ("venues.csv", 3, Some("venue_type"), "unknown venue type \"CONCERT_HAL\""),
            ("venues.csv", 4, Some("latitude"), "outside -90..=90"),
        ],
    );
    assert_eq!(store.counts().unwrap(), passeur_store::Counts::default(), "nothing applied");
}

#[test]
fn bad_jsonl_and_parquet_rows_are_named_too() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("users.jsonl"),
        "{\"id\":\"u1\",\"birth_date\":\"2007-05-01\",\"department\":\"75\",\"credit_cents\":3000}\n\
         {\"id\":\"u2\",\"birth_date\":\"2007-05-01\",\"department\":\"75\",\"credit_cents\":\"x\"}\n\
         not json\n\
         {\"id\":\"u4\",\"birth_date\":\"2007-05-01\",\"department\":\"75\",\"credit_cents\":1,\"colour\":\"red\"}\n",
    )
    .unwrap();
    let mut store = SqliteStore::open(&dir.join("store")).unwrap();
    let errors = rejected(import_dir(&mut store, dir));
    check(
        &errors,
        &[
            ("users.jsonl", 2, Some("credit_cents"), "not an integer"),
            ("users.jsonl", 3, None, "not a JSON object"),
            ("users.jsonl", 4, Some("colour"), "unknown field"),
        ],
    );
    std::fs::remove_file(dir.join("users.jsonl")).unwrap();

    // A Parquet file whose third user is invalid, and one missing a required column.
    let mut w = RecordWriter::<User>::create(&dir.join("users.parquet")).unwrap();
    let ok = User {
        id: "u1".into(),
        birth_date: passeur_domain::parse_date("2007-05-01").unwrap(),
        department: "75".into(),
        home: None,
        credit_cents: 100,
    };
    w.write(&ok).unwrap();
    w.write(&User { id: "u2".into(), ..ok.clone() }).unwrap();
    w.write(&User { id: "u3".into(), credit_cents: -1, ..ok.clone() }).unwrap();
    w.finish().unwrap();
    std::fs::write(dir.join("venues.csv"), "id,name\nv1,x\n").unwrap();
    let errors = rejected(import_dir(&mut store, dir));
    check(
        &errors,
        &[
            ("users.parquet", 3, Some("credit_cents"), "negative"),
            ("venues.csv", 1, Some("venue_type"), "required column is missing"),
            ("venues.csv", 1, Some("city"), "required column is missing"),
            ("venues.csv", 1, Some("department"), "required column is missing"),
            ("venues.csv", 1, Some("partner_id"), "required column is missing"),
        ],
    );
    assert_eq!(store.counts().unwrap().users, 0);
}

#[test]
fn files_are_recognised_by_name_and_extension() {
    assert_eq!(ImportFile::from_path(Path::new("x/offers.parquet")).unwrap().kind, EntityKind::Offers);
    assert_eq!(ImportFile::from_path(Path::new("users.ndjson")).unwrap().format, FileFormat::JsonLines);
    assert!(matches!(ImportFile::from_path(Path::new("offers.xlsx")), Err(IoError::UnknownFormat { .. })));
    assert!(matches!(ImportFile::from_path(Path::new("stuff.csv")), Err(IoError::UnknownKind { .. })));
}
