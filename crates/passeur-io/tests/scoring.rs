//! Scoring from files reads what an import reads: the same records or the
//! same errors (file, line, field, reason), in every format, whichever
//! Parquet timestamp unit the files carry; the columnar fast path agrees with
//! the row reader and with the record store.

mod common;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use passeur_diversity::{DiversificationRules, score_bookings};
use passeur_domain::{Interaction, Offer, User, Venue};
use passeur_io::{
    FileFormat, ImportFile, ImportOptions, IoError, RecordWriter, RowError, ScoringInput, import_files, read_records,
};
use passeur_store::testing::TestDatabase;
use passeur_store::{PostgresStore, RecordStore, SqliteStore};
use passeur_synth::{Scale, World, WorldConfig};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Points and cancellation by booking id, score and bookings by user id.
type Scores = (BTreeMap<String, (u32, bool)>, BTreeMap<String, (u32, u32)>);

fn scores(input: &ScoringInput) -> Scores {
    let rules = DiversificationRules::deck();
    let s = score_bookings(&rules, &input.traits, &input.table, input.user_ids.len());
    let bookings = (0..input.table.len())
        .map(|i| (input.booking_ids.get(i).to_owned(), (s.points[i], input.table.cancelled[i])))
        .collect();
    let users =
        input.user_ids.iter().enumerate().map(|(u, id)| (id.clone(), (s.user_score[u], s.user_bookings[u]))).collect();
    (bookings, users)
}

fn import(dir: &Path) -> Result<SqliteStore, IoError> {
    let mut store = SqliteStore::open(&dir.join("store")).unwrap();
    let files = ImportFile::discover(dir).unwrap();
    import_files(&mut store, &files, &ImportOptions::default(), &mut |_| {})?;
    Ok(store)
}

/// The same import into a fresh PostgreSQL database (see `passeur_store::testing`).
fn import_postgres(dir: &Path) -> (TestDatabase, Result<PostgresStore, IoError>) {
    let db = TestDatabase::new("passeur_io_test").expect("the test server answers");
    let mut store = db.connect().unwrap();
    let files = ImportFile::discover(dir).unwrap();
    let result = import_files(&mut store, &files, &ImportOptions::default(), &mut |_| {}).map(|_| store);
    (db, result)
}

fn rejected<T: std::fmt::Debug>(result: Result<T, IoError>) -> Vec<RowError> {
    match result {
        Err(IoError::Rejected { errors, .. }) => errors,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn write_world(world: &World, interactions: &[Interaction], dir: &Path, format: FileFormat) {
    common::write_files(dir, format, &world.venues, &world.offers, &world.users, interactions);
}

#[test]
fn every_format_and_the_store_give_the_same_scores_and_parquet_takes_the_fast_path() {
    let world = World::generate(WorldConfig::for_scale(Scale::Small, 5));
    let mut interactions = Vec::new();
    world.simulate(256, &mut |b| interactions.extend(b));
    assert!(interactions.iter().any(|i| i.kind.code() == "cancellation"), "the world has cancellations");
    let tmp = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    for format in [FileFormat::Csv, FileFormat::JsonLines, FileFormat::Parquet] {
        let dir = tmp.path().join(format.extension());
        std::fs::create_dir_all(&dir).unwrap();
        write_world(&world, &interactions, &dir, format);
        let input = ScoringInput::from_files(&dir).unwrap();
        assert_eq!(input.columnar, format == FileFormat::Parquet, "{format:?}");
        all.push((format!("{format:?} files"), scores(&input)));
        if format == FileFormat::Parquet {
            let store = import(&dir).unwrap();
            all.push(("the store".into(), scores(&ScoringInput::from_store(&store).unwrap())));
            let (_db, postgres) = import_postgres(&dir);
            all.push(("the PostgreSQL store".into(), scores(&ScoringInput::from_store(&postgres.unwrap()).unwrap())));
        }
    }
    let (first, reference) = &all[0];
    assert!(reference.0.len() > 1000, "{} bookings", reference.0.len());
    for (name, s) in &all[1..] {
        assert!(s == reference, "{name} and {first} disagree");
    }
}

/// A tiny world as CSV text: two venues, three offers, two users.
const VENUES: &str = "id,name,venue_type,latitude,longitude,city,department,partner_id
v-book,Librairie,BOOKSTORE,48.85,2.35,Paris,75,p1
v-hall,La Salle,CONCERT_HALL,45.76,4.83,Lyon,69,p2
";
const OFFERS: &str = "id,item_id,title,subcategory,price_cents,event_start,created_at,venue_id
o-book,i1,Un livre,LIVRE_PAPIER,1200,,2024-01-01T00:00:00Z,v-book
o-concert,i2,Un concert,CONCERT,2000,2024-06-01T20:00:00Z,2024-01-01T00:00:00Z,v-hall
o-stream,i3,Un livestream,LIVESTREAM_MUSIQUE,500,2024-06-02T20:00:00Z,2024-01-01T00:00:00Z,v-hall
";
const USERS: &str = "id,birth_date,department,credit_cents
u1,2007-05-01,75,30000
u2,2008-02-01,69,30000
";
const INTERACTIONS: &str = "id,kind,user_id,offer_id,at,amount_cents,quantity,booking_id
e1,consultation,u1,o-book,2024-02-01T10:00:00Z,,,
b1,booking,u1,o-book,2024-02-01T10:05:00Z,1200,1,
b2,booking,u1,o-concert,2024-02-02T10:00:00Z,2000,1,
b3,booking,u2,o-stream,2024-02-03T10:00:00Z,500,1,
b4,booking,u2,o-concert,2024-02-04T10:00:00Z,2000,1,
c1,cancellation,u2,o-concert,2024-02-05T10:00:00Z,,,b4
";

fn tiny(dir: &Path, venues: &str, offers: &str, interactions: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("venues.csv"), venues).unwrap();
    std::fs::write(dir.join("offers.csv"), offers).unwrap();
    std::fs::write(dir.join("users.csv"), USERS).unwrap();
    std::fs::write(dir.join("interactions.csv"), interactions).unwrap();
}

/// The same directory as Parquet files, written by passeur's own writer from
/// the CSV's records; false when some CSV row is not a record at all.
fn as_parquet(csv: &Path, dir: &Path) -> bool {
    std::fs::create_dir_all(dir).unwrap();
    fn copy<R: passeur_io::Record>(from: &Path, to: &Path) -> bool {
        let Ok(records) = read_records::<R>(from) else { return false };
        let mut w = RecordWriter::<R>::create(to).unwrap();
        for r in records {
            w.write(&r).unwrap();
        }
        w.finish().unwrap();
        true
    }
    copy::<Venue>(&csv.join("venues.csv"), &dir.join("venues.parquet"))
        && copy::<Offer>(&csv.join("offers.csv"), &dir.join("offers.parquet"))
        && copy::<User>(&csv.join("users.csv"), &dir.join("users.parquet"))
        && copy::<Interaction>(&csv.join("interactions.csv"), &dir.join("interactions.parquet"))
}

#[test]
fn the_tiny_world_scores_as_the_rules_say() {
    let tmp = tempfile::tempdir().unwrap();
    tiny(tmp.path(), VENUES, OFFERS, INTERACTIONS);
    let (bookings, users) = scores(&ScoringInput::from_files(tmp.path()).unwrap());
    assert_eq!(bookings["b1"], (1, false), "a first booking earns 1");
    // A new category, subcategory, format (event) and a new concert hall (+1); no genre given.
    assert_eq!(bookings["b2"], (4, false));
    assert_eq!(bookings["b4"], (0, true), "a cancelled booking earns nothing");
    assert_eq!(users["u1"], (5, 2));
    assert_eq!(users["u2"], (1, 1));
}

#[test]
fn an_online_offer_at_a_concert_hall_is_scored_at_the_digital_pseudo_venue() {
    // u1 books the concert at the hall, then the same hall's livestream: the livestream is
    // watched online, so its venue is the digital pseudo-venue (new, +2), not the hall (seen).
    let tmp = tempfile::tempdir().unwrap();
    let interactions = "id,kind,user_id,offer_id,at,amount_cents,quantity,booking_id
b1,booking,u1,o-concert,2024-02-01T10:00:00Z,2000,1,
b2,booking,u1,o-stream,2024-02-02T10:00:00Z,500,1,
";
    tiny(tmp.path(), VENUES, OFFERS, interactions);
    let input = ScoringInput::from_files(tmp.path()).unwrap();
    let rules = DiversificationRules::deck();
    let s = score_bookings(&rules, &input.traits, &input.table, input.user_ids.len());
    let b2 = (0..input.table.len()).find(|i| input.booking_ids.get(*i) == "b2").unwrap();
    let criteria = passeur_diversity::Criteria(s.criteria[b2]).to_string();
    // Same category, format (event) and genre; a new subcategory (+1) and the digital venue (+2).
    assert_eq!((s.points[b2], criteria.as_str()), (3, "subcategory+venue"));
}

#[test]
fn bad_files_are_refused_by_import_and_scoring_with_the_same_errors_in_csv_and_parquet() {
    // (what, venues, offers, interactions, (file stem, CSV line, field, reason)).
    type Case<'a> = (&'a str, &'a str, &'a str, &'a str, (&'a str, u64, &'a str, &'a str));
    let cases: &[Case] = &[
        (
            "an offer at a venue missing from the venues file",
            VENUES,
            "id,item_id,title,subcategory,price_cents,event_start,created_at,venue_id
o-book,i1,Un livre,LIVRE_PAPIER,1200,,2024-01-01T00:00:00Z,ghost
o-concert,i2,Un concert,CONCERT,2000,2024-06-01T20:00:00Z,2024-01-01T00:00:00Z,v-hall
o-stream,i3,Un livestream,LIVESTREAM_MUSIQUE,500,2024-06-02T20:00:00Z,2024-01-01T00:00:00Z,v-hall
",
            "id,kind,user_id,offer_id,at,amount_cents,quantity,booking_id
b2,booking,u1,o-concert,2024-02-02T10:00:00Z,2000,1,
",
            ("offers", 2, "venue_id", "no venue with id \"ghost\""),
        ),
        (
            "an orphan cancellation",
            VENUES,
            OFFERS,
            "id,kind,user_id,offer_id,at,amount_cents,quantity,booking_id
b1,booking,u1,o-book,2024-02-01T10:05:00Z,1200,1,
c1,cancellation,u1,o-book,2024-02-05T10:00:00Z,,,b9
",
            ("interactions", 3, "booking_id", "no booking with id \"b9\""),
        ),
        (
            "a cancellation filed under another user",
            VENUES,
            OFFERS,
            "id,kind,user_id,offer_id,at,amount_cents,quantity,booking_id
b1,booking,u1,o-book,2024-02-01T10:05:00Z,1200,1,
c1,cancellation,u2,o-book,2024-02-05T10:00:00Z,,,b1
",
            ("interactions", 3, "booking_id", "booking b1 is of another user or offer"),
        ),
        (
            "a cancellation before its booking",
            VENUES,
            OFFERS,
            "id,kind,user_id,offer_id,at,amount_cents,quantity,booking_id
c1,cancellation,u1,o-book,2024-02-05T10:00:00Z,,,b1
b1,booking,u1,o-book,2024-02-01T10:05:00Z,1200,1,
",
            ("interactions", 2, "booking_id", "no booking with id \"b1\""),
        ),
        (
            "a booking of an unknown user",
            VENUES,
            OFFERS,
            "id,kind,user_id,offer_id,at,amount_cents,quantity,booking_id
b1,booking,u7,o-book,2024-02-01T10:05:00Z,1200,1,
",
            ("interactions", 2, "user_id", "no user with id \"u7\""),
        ),
        (
            "a booking without amount",
            VENUES,
            OFFERS,
            "id,kind,user_id,offer_id,at,amount_cents,quantity,booking_id
b1,booking,u1,o-book,2024-02-01T10:05:00Z,,1,
",
            ("interactions", 2, "amount_cents", "is required for a booking"),
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    for (n, (what, venues, offers, interactions, (stem, line, field, reason))) in cases.iter().enumerate() {
        let csv = tmp.path().join(format!("case-{n}-csv"));
        tiny(&csv, venues, offers, interactions);
        let parquet = tmp.path().join(format!("case-{n}-parquet"));
        // A row that is not a record at all (no amount) has no Parquet twin written from records.
        let mut dirs = vec![(&csv, "csv")];
        if as_parquet(&csv, &parquet) {
            dirs.push((&parquet, "parquet"));
        }
        for (dir, ext) in dirs {
            let by_import = rejected(import(dir));
            let by_scoring = rejected(ScoringInput::from_files(dir));
            assert_eq!(by_scoring, by_import, "{what} ({ext}): scoring and import disagree");
            let (db, postgres) = import_postgres(dir);
            assert_eq!(rejected(postgres), by_import, "{what} ({ext}): PostgreSQL and SQLite disagree");
            let counts = db.connect().unwrap().counts().unwrap();
            assert_eq!((counts.venues, counts.offers, counts.users, counts.interactions()), (0, 0, 0, 0), "{what}");
            let first = &by_import[0];
            // CSV lines count the header; Parquet rows start at 1.
            let line = if ext == "csv" { *line } else { line - 1 };
            assert_eq!(
                (first.file.as_str(), first.line, first.field.as_deref()),
                (dir.join(format!("{stem}.{ext}")).to_str().unwrap(), line, Some(*field)),
                "{what} ({ext})"
            );
            assert!(first.reason.contains(reason), "{what} ({ext}): {}", first.reason);
        }
    }
}

/// `interactions.parquet` with `at` as the given Arrow array (the other columns as passeur writes them).
fn interactions_with_at(dir: &Path, at: ArrayRef) {
    let records = read_records::<Interaction>(&dir.join("interactions.csv")).unwrap();
    let text = |f: &dyn Fn(&Interaction) -> Option<String>| -> ArrayRef {
        Arc::new(records.iter().map(f).collect::<StringArray>())
    };
    let int = |f: &dyn Fn(&Interaction) -> Option<i64>| -> ArrayRef {
        Arc::new(records.iter().map(f).collect::<Int64Array>())
    };
    use passeur_domain::InteractionKind as K;
    let batch = RecordBatch::try_from_iter(vec![
        ("id", text(&|i| Some(i.id.clone()))),
        ("kind", text(&|i| Some(i.kind.code().to_owned()))),
        ("user_id", text(&|i| Some(i.user_id.clone()))),
        ("offer_id", text(&|i| Some(i.offer_id.clone()))),
        ("at", at),
        (
            "amount_cents",
            int(&|i| if let K::Booking { amount_cents, .. } = i.kind { Some(amount_cents) } else { None }),
        ),
        ("quantity", int(&|i| if let K::Booking { quantity, .. } = i.kind { Some(i64::from(quantity)) } else { None })),
        (
            "booking_id",
            text(&|i| if let K::Cancellation { booking_id } = &i.kind { Some(booking_id.clone()) } else { None }),
        ),
    ])
    .unwrap();
    std::fs::remove_file(dir.join("interactions.csv")).unwrap();
    passeur_io::write_record_batches(&dir.join("interactions.parquet"), &[batch]).unwrap();
}

#[test]
fn parquet_timestamps_of_every_unit_import_and_score_identically() {
    use arrow_array::{
        TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray,
    };
    let tmp = tempfile::tempdir().unwrap();
    let reference_dir = tmp.path().join("csv");
    tiny(&reference_dir, VENUES, OFFERS, INTERACTIONS);
    let reference = scores(&ScoringInput::from_files(&reference_dir).unwrap());
    let reference_records = read_records::<Interaction>(&reference_dir.join("interactions.csv")).unwrap();
    let seconds: Vec<i64> = reference_records.iter().map(|i| i.at.seconds()).collect();
    let scaled = |k: i64| seconds.iter().map(|s| s * k).collect::<Vec<_>>();
    let units: Vec<(&str, ArrayRef)> = vec![
        ("s, UTC", Arc::new(TimestampSecondArray::from(seconds.clone()).with_timezone("UTC"))),
        ("ms, UTC", Arc::new(TimestampMillisecondArray::from(scaled(1_000)).with_timezone("UTC"))),
        ("µs, UTC", Arc::new(TimestampMicrosecondArray::from(scaled(1_000_000)).with_timezone("UTC"))),
        ("ns, UTC", Arc::new(TimestampNanosecondArray::from(scaled(1_000_000_000)).with_timezone("UTC"))),
        ("ms, no zone", Arc::new(TimestampMillisecondArray::from(scaled(1_000)))),
        ("µs, Europe/Paris", Arc::new(TimestampMicrosecondArray::from(scaled(1_000_000)).with_timezone("+01:00"))),
        ("integer seconds", Arc::new(Int64Array::from(seconds.clone()))),
    ];
    for (unit, at) in units {
        let dir = tmp.path().join(unit.replace([',', ' ', '/'], "_"));
        tiny(&dir, VENUES, OFFERS, INTERACTIONS);
        interactions_with_at(&dir, at);
        let input = ScoringInput::from_files(&dir).unwrap();
        assert!(input.columnar, "{unit}: the fast path reads it");
        assert_eq!(scores(&input), reference, "{unit}: scores");
        let store = import(&dir).unwrap();
        let mut imported = Vec::new();
        passeur_store::RecordStore::scan_interactions(&store, &mut |i| {
            imported.push(i);
            Ok(())
        })
        .unwrap();
        imported.sort_by(|a, b| a.id.cmp(&b.id));
        let mut expected = reference_records.clone();
        expected.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(imported, expected, "{unit}: imported records");
    }
    // A sub-second instant is refused by both paths, as the text formats refuse it.
    let dir = tmp.path().join("sub-second");
    tiny(&dir, VENUES, OFFERS, INTERACTIONS);
    let mut ms = scaled(1_000);
    ms[2] += 250;
    interactions_with_at(&dir, Arc::new(TimestampMillisecondArray::from(ms).with_timezone("UTC")));
    let by_import = rejected(import(&dir));
    assert_eq!(rejected(ScoringInput::from_files(&dir)), by_import);
    assert_eq!((by_import[0].line, by_import[0].field.as_deref()), (3, Some("at")));
    assert!(by_import[0].reason.contains("sub-second"), "{}", by_import[0].reason);
}

#[test]
fn passeur_writes_at_as_a_utc_millisecond_timestamp_and_text_accepts_integer_seconds() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("csv");
    // Integer seconds in CSV read as the same instants as RFC 3339 text.
    let integers = INTERACTIONS.replace("2024-02-01T10:05:00Z", "1706781900");
    tiny(&csv, VENUES, OFFERS, &integers);
    let records = read_records::<Interaction>(&csv.join("interactions.csv")).unwrap();
    assert_eq!(records[1].at, passeur_domain::Timestamp::parse("2024-02-01T10:05:00Z").unwrap());
    let parquet = tmp.path().join("parquet");
    assert!(as_parquet(&csv, &parquet));
    let file = std::fs::File::open(parquet.join("interactions.parquet")).unwrap();
    let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
    let schema = parquet::file::reader::FileReader::metadata(&reader).file_metadata().schema_descr_ptr();
    let at = (0..schema.num_columns()).map(|i| schema.column(i)).find(|c| c.name() == "at").unwrap();
    assert_eq!(
        at.logical_type_ref(),
        Some(&parquet::basic::LogicalType::Timestamp {
            is_adjusted_to_u_t_c: true,
            unit: parquet::basic::TimeUnit::MILLIS,
        }),
        "other tools read `at` as a time"
    );
    assert_eq!(read_records::<Interaction>(&parquet.join("interactions.parquet")).unwrap(), records);
}
