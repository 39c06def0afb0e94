//! `passeur diversity`: the diversification score of every user and booking.

use crate::progress;
use anyhow::{Context, Result, bail};
use passeur_diversity::{BatchScores, BookingTable, Criteria, DiversificationRules, OfferTraits};
use passeur_domain::{Interaction, InteractionKind, Offer, User, Venue};
use passeur_io::arrow_array::{Array, Int64Array, StringArray, TimestampSecondArray};
use passeur_io::{Cell, FieldSpec, FieldType, FileFormat, create_table_sink, for_each_record, map_parquet_row_groups};
use passeur_store::{RecordStore, SqliteStore};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// `passeur diversity ...`
#[derive(Debug, clap::Subcommand)]
pub enum DiversityCommand {
    /// Scores every user and every booking, writes them, and prints a summary.
    Score(ScoreArgs),
}

fn parse_format(name: &str) -> Result<FileFormat, String> {
    FileFormat::parse(name).ok_or_else(|| format!("unknown format {name:?}; use csv, jsonl or parquet"))
}

/// Arguments of `passeur diversity score`.
#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// Rules: `deck` (default), `weighted`, or a TOML rules file.
    #[arg(long, default_value = "deck")]
    rules: String,
    /// Read from files instead of the record store: a directory holding
    /// venues.*, offers.*, interactions.* (bookings and cancellations) and optionally users.*.
    #[arg(long)]
    from: Option<PathBuf>,
    /// Where to write user_scores.* and booking_points.*.
    #[arg(long, short)]
    out: PathBuf,
    /// Output format: parquet or csv (or jsonl).
    #[arg(long, default_value = "parquet", value_parser = parse_format)]
    format: FileFormat,
    /// Date on which ages are computed (default: today).
    #[arg(long)]
    on: Option<String>,
}

pub fn run(data_dir: &Path, command: DiversityCommand) -> Result<ExitCode> {
    match command {
        DiversityCommand::Score(args) => score(data_dir, &args),
    }
}

pub fn load_rules(spec: &str) -> Result<DiversificationRules> {
    match DiversificationRules::builtin(spec) {
        Some(rules) => Ok(rules),
        None => Ok(DiversificationRules::load(Path::new(spec))?),
    }
}

/// Everything batch scoring needs, with ids resolved to dense indices.
#[derive(Default)]
pub struct ScoringInput {
    pub offer_ids: Vec<String>,
    pub traits: Vec<OfferTraits>,
    pub offer_index: IdIndex,
    pub user_ids: Vec<String>,
    pub user_index: HashMap<String, u32>,
    /// (birth date, department) of known users.
    pub user_info: Vec<Option<(chrono::NaiveDate, String)>>,
    pub table: BookingTable,
    pub booking_ids: Ids,
}

/// String ids to dense indices. Ids of up to 15 bytes (the common case)
/// are keyed inline as a `u128` (bytes and length), so a lookup touches the
/// table only, not a heap string: bulk resolution of millions of bookings is
/// bound by cache misses, and this removes one per lookup.
#[derive(Default)]
pub struct IdIndex {
    short: HashMap<u128, u32>,
    long: HashMap<String, u32>,
}

impl IdIndex {
    fn key(id: &str) -> Option<u128> {
        let bytes = id.as_bytes();
        (bytes.len() <= 15).then(|| {
            let mut buf = [0u8; 16];
            buf[..bytes.len()].copy_from_slice(bytes);
            buf[15] = bytes.len() as u8;
            u128::from_le_bytes(buf)
        })
    }

    /// Maps an id to an index (replacing any earlier index of the same id).
    pub fn insert(&mut self, id: &str, index: u32) {
        match Self::key(id) {
            Some(k) => self.short.insert(k, index),
            None => self.long.insert(id.to_owned(), index),
        };
    }

    /// The index of an id.
    pub fn get(&self, id: &str) -> Option<u32> {
        match Self::key(id) {
            Some(k) => self.short.get(&k).copied(),
            None => self.long.get(id).copied(),
        }
    }
}

/// One row group's bookings, resolved.
#[derive(Default)]
struct Part {
    user: Vec<u32>,
    offer: Vec<u32>,
    at: Vec<i64>,
    ids: Ids,
    unknown_users: Vec<(usize, String)>,
    cancellations: Vec<(String, String)>,
    failure: Option<String>,
}

/// Many short strings in one buffer: no allocation per id.
#[derive(Default)]
pub struct Ids {
    text: String,
    ends: Vec<usize>,
}

impl Ids {
    pub fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.ends.push(self.text.len());
    }

    /// Appends all of `other`'s ids.
    pub fn append(&mut self, other: &Ids) {
        let offset = self.text.len();
        self.text.push_str(&other.text);
        self.ends.extend(other.ends.iter().map(|e| e + offset));
    }

    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }
}

impl ScoringInput {
    /// Adds offers, with their venues.
    pub fn set_offers(&mut self, venues: &[Venue], offers: impl IntoIterator<Item = Offer>) {
        let venue_index: HashMap<&str, u32> =
            venues.iter().enumerate().map(|(i, v)| (v.id.as_str(), i as u32)).collect();
        for offer in offers {
            let venue =
                offer.venue_id.as_deref().and_then(|id| venue_index.get(id)).map(|i| (&venues[*i as usize], *i));
            self.traits.push(OfferTraits::of(&offer, venue));
            self.offer_index.insert(&offer.id, self.offer_ids.len() as u32);
            self.offer_ids.push(offer.id);
        }
    }

    pub fn add_user(&mut self, user: User) {
        self.user_index.insert(user.id.clone(), self.user_ids.len() as u32);
        self.user_ids.push(user.id);
        self.user_info.push(Some((user.birth_date, user.department)));
    }

    fn user(&mut self, id: &str) -> u32 {
        if let Some(i) = self.user_index.get(id) {
            return *i;
        }
        let i = self.user_ids.len() as u32;
        self.user_index.insert(id.to_owned(), i);
        self.user_ids.push(id.to_owned());
        self.user_info.push(None);
        i
    }

    /// Adds one booking.
    pub fn add_booking(
        &mut self,
        booking_id: &str,
        user_id: &str,
        offer_id: &str,
        at: i64,
        cancelled: bool,
    ) -> Result<()> {
        let Some(offer) = self.offer_index.get(offer_id) else {
            bail!("booking {booking_id:?}: unknown offer {offer_id:?}");
        };
        let user = self.user(user_id);
        self.table.user.push(user);
        self.table.offer.push(offer);
        self.table.at.push(at);
        self.table.cancelled.push(cancelled);
        self.booking_ids.push(booking_id);
        Ok(())
    }

    pub fn finish(&mut self) {
        let ids = &self.booking_ids;
        self.table.rank_ties(|i| ids.get(i));
    }

    /// Writes the resolved bookings (dense user and offer indices, ties,
    /// cancellations, booking ids) so that a later run against the same
    /// catalogue skips resolving string ids. Returns false, writing nothing,
    /// when some bookings are of users absent from the users file.
    pub fn save_dense(&self, path: &Path) -> Result<bool> {
        use passeur_io::arrow_array::{ArrayRef, BooleanArray, RecordBatch, UInt32Array, UInt64Array};
        use std::sync::Arc;
        let known_users = self.user_info.iter().take_while(|i| i.is_some()).count();
        if self.user_ids.len() != known_users {
            return Ok(false);
        }
        let t = &self.table;
        let mut batches = Vec::new();
        for start in (0..t.len()).step_by(1 << 20) {
            let end = (start + (1 << 20)).min(t.len());
            let columns: Vec<(&str, ArrayRef)> = vec![
                ("user", Arc::new(UInt32Array::from(t.user[start..end].to_vec()))),
                ("offer", Arc::new(UInt32Array::from(t.offer[start..end].to_vec()))),
                ("at", Arc::new(Int64Array::from(t.at[start..end].to_vec()))),
                ("tie", Arc::new(UInt64Array::from(t.tie[start..end].to_vec()))),
                ("cancelled", Arc::new(BooleanArray::from(t.cancelled[start..end].to_vec()))),
                ("booking_id", Arc::new(StringArray::from_iter_values((start..end).map(|i| self.booking_ids.get(i))))),
            ];
            batches.push(RecordBatch::try_from_iter(columns)?);
        }
        passeur_io::write_record_batches(path, &batches)?;
        Ok(true)
    }

    /// Reads bookings written by [`ScoringInput::save_dense`] against this same catalogue.
    pub fn load_dense(&mut self, path: &Path) -> Result<()> {
        use passeur_io::arrow_array::{BooleanArray, UInt32Array, UInt64Array};
        fn column<T: 'static>(batch: &passeur_io::arrow_array::RecordBatch, i: usize) -> passeur_io::Result<&T> {
            batch
                .column(i)
                .as_any()
                .downcast_ref::<T>()
                .ok_or_else(|| io_err(anyhow::anyhow!("unexpected column type")))
        }
        let parts =
            map_parquet_row_groups(path, &["user", "offer", "at", "tie", "cancelled", "booking_id"], &|batch| {
                let ids = column::<StringArray>(batch, 5)?;
                let mut part = Ids::default();
                for r in 0..batch.num_rows() {
                    part.push(ids.value(r));
                }
                Ok((
                    column::<UInt32Array>(batch, 0)?.values().to_vec(),
                    column::<UInt32Array>(batch, 1)?.values().to_vec(),
                    column::<Int64Array>(batch, 2)?.values().to_vec(),
                    column::<UInt64Array>(batch, 3)?.values().to_vec(),
                    column::<BooleanArray>(batch, 4)?.iter().map(|b| b.unwrap_or(false)).collect::<Vec<bool>>(),
                    part,
                ))
            })?;
        for (user, offer, at, tie, cancelled, ids) in parts {
            if user.iter().any(|u| *u as usize >= self.user_ids.len())
                || offer.iter().any(|o| *o as usize >= self.traits.len())
            {
                bail!("{} was not resolved against this catalogue", path.display());
            }
            self.table.user.extend(user);
            self.table.offer.extend(offer);
            self.table.at.extend(at);
            self.table.tie.extend(tie);
            self.table.cancelled.extend(cancelled);
            self.booking_ids.append(&ids);
        }
        Ok(())
    }

    pub fn from_store(store: &SqliteStore) -> Result<ScoringInput> {
        let mut input = ScoringInput::default();
        let mut venues = Vec::new();
        store.scan_venues(&mut |v| {
            venues.push(v);
            Ok(())
        })?;
        let mut offers = Vec::new();
        store.scan_offers(&mut |o| {
            offers.push(o);
            Ok(())
        })?;
        input.set_offers(&venues, offers);
        store.scan_users(&mut |u| {
            input.add_user(u);
            Ok(())
        })?;
        let mut bookings = Vec::new();
        let mut cancelled = HashSet::default();
        store.scan_interactions(&mut |i| {
            match &i.kind {
                InteractionKind::Booking { .. } => bookings.push(i),
                InteractionKind::Cancellation { booking_id } => {
                    cancelled.insert(booking_id.clone());
                }
                _ => {}
            }
            Ok(())
        })?;
        for b in bookings {
            input.add_booking(&b.id, &b.user_id, &b.offer_id, b.at.seconds(), cancelled.contains(&b.id))?;
        }
        input.finish();
        Ok(input)
    }

    /// Reads venues, offers and (optionally) users from `dir`.
    pub fn load_catalogue(dir: &Path) -> Result<ScoringInput> {
        let mut input = ScoringInput::default();
        let venues: Vec<Venue> = passeur_io::read_records(&find(dir, "venues")?)?;
        let mut offers = Vec::new();
        for_each_record::<Offer>(&find(dir, "offers")?, &mut |o| offers.push(o))?;
        input.set_offers(&venues, offers);
        if let Ok(users) = find(dir, "users") {
            let mut all = Vec::new();
            for_each_record::<User>(&users, &mut |u| all.push(u))?;
            for u in all {
                input.add_user(u);
            }
        }
        Ok(input)
    }

    /// Reads the bookings and cancellations of `dir`'s interactions file
    /// (Parquet: columnar fast path; other formats: row by row).
    pub fn load_bookings(&mut self, dir: &Path) -> Result<()> {
        let path = find(dir, "interactions")?;
        if FileFormat::from_path(&path)? != FileFormat::Parquet {
            let mut rows = Vec::new();
            for_each_record::<Interaction>(&path, &mut |i| {
                if matches!(i.kind, InteractionKind::Booking { .. } | InteractionKind::Cancellation { .. }) {
                    rows.push(i);
                }
            })?;
            let cancelled: HashSet<String> = rows
                .iter()
                .filter_map(|i| match &i.kind {
                    InteractionKind::Cancellation { booking_id } => Some(booking_id.clone()),
                    _ => None,
                })
                .collect();
            for b in rows.iter().filter(|i| matches!(i.kind, InteractionKind::Booking { .. })) {
                self.add_booking(&b.id, &b.user_id, &b.offer_id, b.at.seconds(), cancelled.contains(&b.id))?;
            }
            self.finish();
            return Ok(());
        }
        let strings = |batch: &passeur_io::arrow_array::RecordBatch, i: usize| -> Result<StringArray> {
            let a = batch.column(i);
            a.as_any().downcast_ref::<StringArray>().cloned().context("string column expected")
        };
        let phase = Instant::now();
        let columns = ["id", "kind", "user_id", "offer_id", "at", "booking_id"];
        let (user_index, offer_index) = (&self.user_index, &self.offer_index);
        // Row groups are decoded and their ids resolved in parallel; users
        // missing from the users file are added afterwards, in file order.
        let parts = map_parquet_row_groups(&path, &columns, &|batch| {
            let (id, kind, user, offer, booking) = (
                strings(batch, 0).map_err(io_err)?,
                strings(batch, 1).map_err(io_err)?,
                strings(batch, 2).map_err(io_err)?,
                strings(batch, 3).map_err(io_err)?,
                strings(batch, 5).map_err(io_err)?,
            );
            let at = batch.column(4);
            let at: &[i64] = if let Some(t) = at.as_any().downcast_ref::<TimestampSecondArray>() {
                t.values()
            } else if let Some(t) = at.as_any().downcast_ref::<Int64Array>() {
                t.values()
            } else {
                return Err(io_err(anyhow::anyhow!("column at is not a timestamp in seconds")));
            };
            // All offer lookups of the batch first, in a tight loop of
            // independent probes, so that their cache misses overlap.
            let offers: Vec<Option<u32>> = (0..batch.num_rows()).map(|r| offer_index.get(offer.value(r))).collect();
            let rows = batch.num_rows();
            let mut part = Part {
                user: Vec::with_capacity(rows),
                offer: Vec::with_capacity(rows),
                at: Vec::with_capacity(rows),
                ids: Ids { text: String::with_capacity(id.value_data().len()), ends: Vec::with_capacity(rows) },
                ..Part::default()
            };
            let (mut last_user, mut last_index) = ("", None);
            for (r, &at) in at.iter().enumerate().take(batch.num_rows()) {
                let k = kind.value(r);
                if k != "booking" && k != "cancellation" {
                    continue;
                }
                let user_id = user.value(r);
                if k == "cancellation" {
                    if booking.is_valid(r) {
                        part.cancellations.push((user_id.to_owned(), booking.value(r).to_owned()));
                    }
                    continue;
                }
                let Some(o) = offers[r] else {
                    part.failure.get_or_insert_with(|| {
                        format!("booking {:?}: unknown offer {:?}", id.value(r), offer.value(r))
                    });
                    continue;
                };
                if user_id != last_user {
                    last_user = user_id;
                    last_index = user_index.get(user_id).copied();
                }
                match last_index {
                    Some(u) => part.user.push(u),
                    None => {
                        part.unknown_users.push((part.user.len(), user_id.to_owned()));
                        part.user.push(u32::MAX);
                    }
                }
                part.offer.push(o);
                part.at.push(at);
                part.ids.push(id.value(r));
            }
            Ok(part)
        })?;
        let mut cancellations = Vec::new();
        for mut part in parts {
            if let Some(e) = part.failure {
                bail!(e);
            }
            for (position, user_id) in &part.unknown_users {
                part.user[*position] = self.user(user_id);
            }
            for (user_id, booking_id) in part.cancellations {
                cancellations.push((self.user(&user_id), booking_id));
            }
            self.table.cancelled.extend(std::iter::repeat_n(false, part.user.len()));
            self.table.user.extend(part.user);
            self.table.offer.extend(part.offer);
            self.table.at.extend(part.at);
            self.booking_ids.append(&part.ids);
        }
        tracing::info!(seconds = phase.elapsed().as_secs_f64(), bookings = self.table.len(), "bookings read");
        let phase = Instant::now();
        self.mark_cancelled(&cancellations);
        tracing::info!(
            seconds = phase.elapsed().as_secs_f64(),
            cancelled = cancellations.len(),
            "cancellations marked"
        );
        let phase = Instant::now();
        self.finish();
        tracing::info!(seconds = phase.elapsed().as_secs_f64(), "ties ranked");
        Ok(())
    }

    /// Marks the cancelled bookings, looking each up among its user's bookings.
    fn mark_cancelled(&mut self, cancellations: &[(u32, String)]) {
        let users = self.user_ids.len();
        // Bookings of each user: a counting sort of row numbers by user.
        let mut start = vec![0u32; users + 1];
        for &u in &self.table.user {
            start[u as usize + 1] += 1;
        }
        for u in 0..users {
            start[u + 1] += start[u];
        }
        let mut next = start.clone();
        let mut rows = vec![0u32; self.table.len()];
        for (row, &u) in self.table.user.iter().enumerate() {
            rows[next[u as usize] as usize] = row as u32;
            next[u as usize] += 1;
        }
        for (user, booking_id) in cancellations {
            let span = &rows[start[*user as usize] as usize..start[*user as usize + 1] as usize];
            if let Some(&row) = span.iter().find(|&&row| self.booking_ids.get(row as usize) == booking_id) {
                self.table.cancelled[row as usize] = true;
            }
        }
    }
}

/// Loads `dir`, resolving booking ids once: the resolved bookings are cached
/// in the data directory, keyed by the size and modification time of the
/// files they came from, and reused while those files are unchanged.
fn load_from_files(data_dir: &Path, dir: &Path) -> Result<ScoringInput> {
    let mut input = ScoringInput::load_catalogue(dir)?;
    let mut fingerprint = String::new();
    for stem in ["venues", "offers", "users", "interactions"] {
        if let Ok(path) = find(dir, stem) {
            let meta = std::fs::metadata(&path)?;
            let modified = meta.modified()?.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
            fingerprint.push_str(&format!("{}:{}:{modified}\n", path.display(), meta.len()));
        }
    }
    let name: String = std::fs::canonicalize(dir)?
        .display()
        .to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let cache_dir = data_dir.join("cache");
    let (cache, key) =
        (cache_dir.join(format!("bookings-{name}.parquet")), cache_dir.join(format!("bookings-{name}.key")));
    if std::fs::read_to_string(&key).ok().as_deref() == Some(fingerprint.as_str()) && input.load_dense(&cache).is_ok() {
        tracing::info!(cache = %cache.display(), "resolved bookings read from the cache");
        return Ok(input);
    }
    input.table = BookingTable::default();
    input.booking_ids = Ids::default();
    input.load_bookings(dir)?;
    std::fs::create_dir_all(&cache_dir)?;
    if input.save_dense(&cache)? {
        std::fs::write(&key, fingerprint)?;
    }
    Ok(input)
}

fn io_err(e: anyhow::Error) -> passeur_io::IoError {
    passeur_io::IoError::File { path: String::new(), source: std::io::Error::other(e.to_string()) }
}

fn find(dir: &Path, stem: &str) -> Result<PathBuf> {
    for ext in ["parquet", "csv", "jsonl", "ndjson"] {
        let p = dir.join(format!("{stem}.{ext}"));
        if p.exists() {
            return Ok(p);
        }
    }
    bail!("{} holds no {stem}.parquet, .csv or .jsonl", dir.display())
}

const USER_SCORE_FIELDS: &[FieldSpec] = &[
    FieldSpec { name: "user_id", ty: FieldType::Str, required: true },
    FieldSpec { name: "score", ty: FieldType::Int, required: true },
    FieldSpec { name: "bookings", ty: FieldType::Int, required: true },
    FieldSpec { name: "age", ty: FieldType::Int, required: false },
    FieldSpec { name: "department", ty: FieldType::Str, required: false },
];

const BOOKING_POINT_FIELDS: &[FieldSpec] = &[
    FieldSpec { name: "booking_id", ty: FieldType::Str, required: true },
    FieldSpec { name: "user_id", ty: FieldType::Str, required: true },
    FieldSpec { name: "offer_id", ty: FieldType::Str, required: true },
    FieldSpec { name: "at", ty: FieldType::Timestamp, required: true },
    FieldSpec { name: "cancelled", ty: FieldType::Bool, required: true },
    FieldSpec { name: "points", ty: FieldType::Int, required: true },
    FieldSpec { name: "criteria", ty: FieldType::Str, required: true },
];

fn score(data_dir: &Path, args: &ScoreArgs) -> Result<ExitCode> {
    let rules = load_rules(&args.rules)?;
    let on = match &args.on {
        Some(d) => passeur_domain::parse_date(d).map_err(anyhow::Error::msg)?,
        None => chrono::Utc::now().date_naive(),
    };
    let started = Instant::now();
    let spinner = progress::spinner("loading");
    let input = match &args.from {
        Some(dir) => load_from_files(data_dir, dir)?,
        None => {
            if !data_dir.join(SqliteStore::FILE_NAME).exists() {
                bail!("no record store in {}; use --from DIR or run `passeur import` first", data_dir.display());
            }
            ScoringInput::from_store(&SqliteStore::open(data_dir)?)?
        }
    };
    spinner.finish_and_clear();
    let loaded = started.elapsed().as_secs_f64();
    let scoring = Instant::now();
    let scores = passeur_diversity::score_bookings(&rules, &input.traits, &input.table, input.user_ids.len());
    let scored = scoring.elapsed().as_secs_f64();
    write_outputs(&input, &scores, &args.out, args.format, on)?;
    out!(
        "rules {}: scored {} bookings of {} users (loading {loaded:.2} s, scoring {scored:.3} s); wrote {}",
        rules.name,
        input.table.len(),
        input.user_ids.len(),
        args.out.display()
    );
    print_summary(&input, &scores, on);
    Ok(ExitCode::SUCCESS)
}

fn write_outputs(
    input: &ScoringInput,
    scores: &BatchScores,
    out: &Path,
    format: FileFormat,
    on: chrono::NaiveDate,
) -> Result<()> {
    let ext = format.extension();
    let mut users = create_table_sink(&out.join(format!("user_scores.{ext}")), format, USER_SCORE_FIELDS)?;
    for (u, id) in input.user_ids.iter().enumerate() {
        let info = &input.user_info[u];
        users.write_row(&[
            Cell::Str(id.clone()),
            Cell::Int(i64::from(scores.user_score[u])),
            Cell::Int(i64::from(scores.user_bookings[u])),
            info.as_ref().map_or(Cell::Null, |(b, _)| Cell::Int(i64::from(passeur_domain::age_on(*b, on)))),
            info.as_ref().map_or(Cell::Null, |(_, d)| Cell::Str(d.clone())),
        ])?;
    }
    users.finish()?;
    let mut points = create_table_sink(&out.join(format!("booking_points.{ext}")), format, BOOKING_POINT_FIELDS)?;
    let t = &input.table;
    for i in 0..t.len() {
        points.write_row(&[
            Cell::Str(input.booking_ids.get(i).to_owned()),
            Cell::Str(input.user_ids[t.user[i] as usize].clone()),
            Cell::Str(input.offer_ids[t.offer[i] as usize].clone()),
            Cell::Int(t.at[i]),
            Cell::Bool(t.cancelled[i]),
            Cell::Int(i64::from(scores.points[i])),
            Cell::Str(Criteria(scores.criteria[i]).to_string()),
        ])?;
    }
    points.finish()?;
    Ok(())
}

fn mean(v: &[u32]) -> f64 {
    if v.is_empty() { 0.0 } else { v.iter().map(|x| f64::from(*x)).sum::<f64>() / v.len() as f64 }
}

fn print_summary(input: &ScoringInput, scores: &BatchScores, on: chrono::NaiveDate) {
    let active: Vec<usize> = (0..input.user_ids.len()).filter(|u| scores.user_bookings[*u] > 0).collect();
    let mut all: Vec<u32> = active.iter().map(|u| scores.user_score[*u]).collect();
    all.sort_unstable();
    let q = |p: f64| all.get(((all.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0);
    out!(
        "\n{} users with bookings: mean score {:.2}, median {}, p10 {}, p90 {}, max {}",
        all.len(),
        mean(&all),
        q(0.5),
        q(0.1),
        q(0.9),
        all.last().copied().unwrap_or(0)
    );
    let buckets = [(1, 1), (2, 3), (4, 5), (6, 9), (10, 14), (15, 19), (20, 29), (30, u32::MAX)];
    out!("\nscore distribution");
    for (lo, hi) in buckets {
        let n = all.iter().filter(|s| (lo..=hi).contains(*s)).count();
        let label = if hi == u32::MAX {
            format!("{lo}+")
        } else if lo == hi {
            lo.to_string()
        } else {
            format!("{lo}-{hi}")
        };
        out!("  {label:>6} {n:>9} {:>6.1} %", 100.0 * n as f64 / all.len().max(1) as f64);
    }
    let mut by_age: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
    let mut by_department: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    let mut by_bookings: BTreeMap<(u32, u32), Vec<u32>> = BTreeMap::new();
    for &u in &active {
        let s = scores.user_score[u];
        if let Some((birth, department)) = &input.user_info[u] {
            by_age.entry(passeur_domain::age_on(*birth, on)).or_default().push(s);
            by_department.entry(department).or_default().push(s);
        }
        let b = scores.user_bookings[u];
        let bucket = [(1, 1), (2, 3), (4, 7), (8, 15), (16, 31), (32, u32::MAX)]
            .into_iter()
            .find(|(lo, hi)| (*lo..=*hi).contains(&b))
            .unwrap_or((0, 0));
        by_bookings.entry(bucket).or_default().push(s);
    }
    out!("\nmean score by age");
    for (age, s) in &by_age {
        out!("  {age:>6} {:>8.2} ({} users)", mean(s), s.len());
    }
    out!("\nmean score by number of bookings");
    for ((lo, hi), s) in &by_bookings {
        let label = if *hi == u32::MAX {
            format!("{lo}+")
        } else if lo == hi {
            lo.to_string()
        } else {
            format!("{lo}-{hi}")
        };
        out!("  {label:>6} {:>8.2} ({} users)", mean(s), s.len());
    }
    let mut departments: Vec<(&&str, &Vec<u32>)> = by_department.iter().collect();
    departments.sort_by_key(|(_, s)| std::cmp::Reverse(s.len()));
    out!("\nmean score by department (10 largest)");
    for (d, s) in departments.into_iter().take(10) {
        out!("  {d:>6} {:>8.2} ({} users)", mean(s), s.len());
    }
}
