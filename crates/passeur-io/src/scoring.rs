//! The diversification score's inputs, read from a data team's own files
//! (`passeur diversity score --from DIR`) or from a record store, with ids
//! resolved to dense indices, and the scores written back as files.
//!
//! # One reader, one set of checks
//!
//! Files are read by the same code as [`crate::import_files`] (the row
//! readers of [`crate::formats`], [`Record::from_cells`]) and every record
//! passes the store's own checks ([`passeur_store::check_offer`],
//! [`passeur_store::check_interaction`]) against what the files hold, so the
//! same files give the same records, or the same errors (file, line, field,
//! reason), as an import into an empty store. Records are upserted by id as an
//! import does: a later row with the same id replaces the earlier one.
//!
//! Scoring reads what scoring needs. Of the offers, every field but the
//! description and the image embedding. Of the interactions, the kind of
//! every row and every field of the bookings and cancellations; the other
//! kinds (consultations, favourites, impressions) are not decoded, which is
//! where its speed comes from. So a bad impression row, or an image
//! embedding holding a NaN, that `import` refuses is not seen here. `users.*` may be left out: the users
//! are then those who booked, without age or department.
//!
//! # The fast path
//!
//! A Parquet interactions file is read by row group in parallel: the `kind`
//! column first, then only the booking and cancellation rows of the other
//! columns (a row selection, so the ids of other kinds are never decoded).
//! The fast path checks each row it keeps cheaply; when any check fails it
//! gives the file to the row reader, which names every bad row as `import`
//! does. The fast path is an optimisation of valid files, never a second
//! set of rules.

use crate::error::{IoError, Problems, Result, RowError};
use crate::formats::{
    FileFormat, create_table_sink, read_rows, read_rows_skipping, schema_of, timestamp_seconds, write_record_batches,
    write_record_batches_with,
};
use crate::schema::{Cell, EntityKind, FieldSpec, FieldType, Record};
use crate::transfer::row_error_of;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use passeur_diversity::{BatchScores, BookingTable, Criteria, OfferTraits};
use passeur_domain::{Interaction, InteractionKind, Offer, User, Venue, validate_id};
use passeur_store::{RecordStore, References, StoreError, check_interaction, check_offer};
use rustc_hash::FxHashMap as HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// String ids to dense indices. Ids of up to 15 bytes (the common case)
/// are keyed inline as a `u128` (bytes and length), so a lookup touches the
/// table only, not a heap string: bulk resolution of millions of bookings is
/// bound by cache misses, and this removes one per lookup.
#[derive(Debug, Default)]
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

    /// An index sized for `n` ids.
    pub fn with_capacity(n: usize) -> IdIndex {
        IdIndex { short: HashMap::with_capacity_and_hasher(n, Default::default()), long: HashMap::default() }
    }

    /// Maps an id to an index; returns the index it had before, if any.
    pub fn insert(&mut self, id: &str, index: u32) -> Option<u32> {
        match Self::key(id) {
            Some(k) => self.short.insert(k, index),
            None => self.long.insert(id.to_owned(), index),
        }
    }

    /// The index of an id.
    pub fn get(&self, id: &str) -> Option<u32> {
        match Self::key(id) {
            Some(k) => self.short.get(&k).copied(),
            None => self.long.get(id).copied(),
        }
    }
}

/// Many short strings in one buffer: no allocation per id.
#[derive(Debug, Default, Clone)]
pub struct Ids {
    text: String,
    ends: Vec<usize>,
}

impl Ids {
    /// Appends one id.
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

    /// The `i`-th id.
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    /// Room for `bytes` more bytes of `ids` more ids.
    pub fn reserve(&mut self, bytes: usize, ids: usize) {
        self.text.reserve(bytes);
        self.ends.reserve(ids);
    }

    /// How many ids.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn retain(&self, keep: &[bool]) -> Ids {
        let mut out = Ids::default();
        for (i, k) in keep.iter().enumerate() {
            if *k {
                out.push(self.get(i));
            }
        }
        out
    }
}

/// Everything batch scoring needs, with ids resolved to dense indices.
#[derive(Debug, Default)]
pub struct ScoringInput {
    /// Offer ids, by offer index.
    pub offer_ids: Vec<String>,
    /// Offer traits, by offer index.
    pub traits: Vec<OfferTraits>,
    /// Offer id to offer index.
    pub offer_index: IdIndex,
    /// User ids, by user index.
    pub user_ids: Vec<String>,
    /// User id to user index.
    pub user_index: IdIndex,
    /// (birth date, department) of the users of the users file (`None` for
    /// users known only from their bookings).
    pub user_info: Vec<Option<(chrono::NaiveDate, String)>>,
    /// The bookings.
    pub table: BookingTable,
    /// Booking ids, by booking row.
    pub booking_ids: Ids,
    /// True when the interactions were read by the columnar fast path.
    pub columnar: bool,
}

/// Reads every row of `path` as records of `R`; a row that does not decode,
/// or that `check` refuses, is a problem of its line. Rows are decoded into
/// records in parallel, a chunk at a time, and checked in file order.
fn read_checked<R: Record + Send>(
    path: &Path,
    skip: &[&str],
    problems: &mut Problems,
    check: &mut dyn FnMut(u64, R) -> std::result::Result<(), StoreError>,
) -> Result<()> {
    use rayon::prelude::*;
    const CHUNK: usize = 16_384;
    fn flush<R: Record + Send>(
        path: &Path,
        rows: &mut Vec<(u64, Vec<Cell>)>,
        bad: &mut Vec<RowError>,
        check: &mut dyn FnMut(u64, R) -> std::result::Result<(), StoreError>,
    ) -> Result<()> {
        let decoded: Vec<(u64, std::result::Result<R, crate::FieldError>)> =
            rows.par_drain(..).map(|(line, cells)| (line, R::from_cells(&cells))).collect();
        for (line, record) in decoded {
            match record {
                Err(field) => bad.push(RowError {
                    file: path.display().to_string(),
                    line,
                    field: Some(field.field),
                    reason: field.reason,
                }),
                Ok(record) => {
                    if let Err(e) = check(line, record) {
                        bad.push(row_error_of(e, path, line)?);
                    }
                }
            }
        }
        Ok(())
    }
    let format = FileFormat::from_path(path)?;
    let mut bad: Vec<RowError> = Vec::new();
    let mut rows: Vec<(u64, Vec<Cell>)> = Vec::with_capacity(CHUNK);
    read_rows_skipping(path, format, R::KIND, skip, &mut |e| problems.push(e), &mut |line, cells| {
        rows.push((line, cells));
        if rows.len() >= CHUNK {
            flush(path, &mut rows, &mut bad, check)?;
        }
        Ok(())
    })?;
    flush(path, &mut rows, &mut bad, check)?;
    for e in bad {
        problems.push(e);
    }
    Ok(())
}

/// The file of `dir` named `stem` with a known extension.
pub fn find_file(dir: &Path, stem: &str) -> Option<PathBuf> {
    ["parquet", "csv", "jsonl", "ndjson"].iter().map(|ext| dir.join(format!("{stem}.{ext}"))).find(|p| p.exists())
}

fn require_file(dir: &Path, stem: &'static str) -> Result<PathBuf> {
    find_file(dir, stem).ok_or_else(|| IoError::NoFile { dir: dir.display().to_string(), stem })
}

/// The resolved bookings of a directory of files, cached so that a later run
/// skips resolving string ids: keyed by the size and modification time of
/// the files they came from, and used only while those files are unchanged.
/// Written by the second run over the same files (see [`ScoringCache::save`]).
#[derive(Debug, Clone)]
pub struct ScoringCache {
    dir: PathBuf,
    cache: PathBuf,
    key: PathBuf,
    fingerprint: String,
}

impl ScoringCache {
    /// The cache, in `cache_dir`, of the files of `dir`.
    pub fn of(dir: &Path, cache_dir: &Path) -> Result<ScoringCache> {
        let mut fingerprint = String::new();
        for stem in ["venues", "offers", "users", "interactions"] {
            if let Some(path) = find_file(dir, stem) {
                let meta = std::fs::metadata(&path).map_err(|e| file_error(&path, e))?;
                let modified = meta
                    .modified()
                    .map_err(|e| file_error(&path, e))?
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                fingerprint.push_str(&format!("{}:{}:{modified}\n", path.display(), meta.len()));
            }
        }
        let name: String = std::fs::canonicalize(dir)
            .map_err(|e| file_error(dir, e))?
            .display()
            .to_string()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        Ok(ScoringCache {
            dir: dir.to_owned(),
            cache: cache_dir.join(format!("bookings-{name}.parquet")),
            key: cache_dir.join(format!("bookings-{name}.key")),
            fingerprint,
        })
    }

    /// The input, if the cache holds the files' current bookings (the
    /// catalogue is read, and checked, from the files themselves).
    pub fn load(&self) -> Result<Option<ScoringInput>> {
        if std::fs::read_to_string(&self.key).ok().as_deref() != Some(self.fingerprint.as_str()) {
            return Ok(None);
        }
        let mut problems = Problems::new(crate::ImportOptions::default().max_errors);
        let mut input = ScoringInput::read_catalogue(&self.dir, &mut problems)?;
        problems.finish()?;
        if input.load_dense(&self.cache).is_err() {
            return Ok(None);
        }
        tracing::info!(cache = %self.cache.display(), "resolved bookings read from the cache");
        Ok(Some(input))
    }

    /// What a first sight of the files leaves in the key file.
    fn seen_marker(&self) -> String {
        format!("seen once\n{}", self.fingerprint)
    }

    /// Records a run over the files: the first run over them only marks them
    /// seen (a one-off run does not pay for writing a cache it will never
    /// read); a second run over the same unchanged files stores `input`'s
    /// resolved bookings for the runs after it.
    pub fn save(&self, input: &ScoringInput) -> Result<()> {
        let started = Instant::now();
        let parent = self.cache.parent().expect("the cache is in a directory");
        std::fs::create_dir_all(parent).map_err(|e| file_error(parent, e))?;
        let seen = std::fs::read_to_string(&self.key).ok().as_deref() == Some(self.seen_marker().as_str());
        if !seen {
            std::fs::write(&self.key, self.seen_marker()).map_err(|e| file_error(&self.key, e))?;
            return Ok(());
        }
        if input.save_dense(&self.cache)? {
            std::fs::write(&self.key, &self.fingerprint).map_err(|e| file_error(&self.key, e))?;
        }
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "cache written");
        Ok(())
    }
}

/// The offer columns scoring leaves undecoded (so an invalid image embedding,
/// which `import` refuses, is not seen by scoring).
const OFFER_COLUMNS_NOT_READ: &[&str] = &["description", "image_embedding"];

/// What an interaction id stands for while interactions are read row by row.
#[derive(Debug, Clone, Copy)]
enum Scored {
    /// A booking, at this row of the table.
    Booking(u32),
    /// A cancellation, at this index of the cancellations.
    Cancellation(u32),
}

impl ScoringInput {
    /// Reads a record store.
    pub fn from_store(store: &dyn RecordStore) -> Result<ScoringInput> {
        let mut input = ScoringInput::default();
        let mut venues = Vec::new();
        store.scan_venues(&mut |v| {
            venues.push(v);
            Ok(())
        })?;
        let venue_index: HashMap<String, u32> =
            venues.iter().enumerate().map(|(i, v)| (v.id.clone(), i as u32)).collect();
        store.scan_offers(&mut |o| {
            let venue = o.venue_id.as_deref().and_then(|id| venue_index.get(id)).map(|i| (&venues[*i as usize], *i));
            input.add_offer(o, venue);
            Ok(())
        })?;
        store.scan_users(&mut |u| {
            input.add_user(u);
            Ok(())
        })?;
        let mut bookings = Vec::new();
        let mut cancelled = rustc_hash::FxHashSet::default();
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
            let (Some(user), Some(offer)) = (input.user_index.get(&b.user_id), input.offer_index.get(&b.offer_id))
            else {
                // The store's own checks make this unreachable; a corrupt store is not scored silently.
                return Err(IoError::Store(StoreError::Corrupt {
                    table: "interactions",
                    id: b.id.clone(),
                    reason: "refers to an unknown user or offer".into(),
                }));
            };
            input.push_booking(&b.id, user, offer, b.at.seconds(), cancelled.contains(&b.id));
        }
        input.finish();
        Ok(input)
    }

    /// Reads `dir`'s `venues.*`, `offers.*`, optional `users.*` and
    /// `interactions.*` (CSV, JSON Lines or Parquet), all or nothing: any bad
    /// row makes it [`IoError::Rejected`] with every bad row named, as
    /// [`crate::import_files`] would name them.
    pub fn from_files(dir: &Path) -> Result<ScoringInput> {
        let started = Instant::now();
        let mut problems = Problems::new(crate::ImportOptions::default().max_errors);
        let mut input = ScoringInput::read_catalogue(dir, &mut problems)?;
        tracing::info!(seconds = started.elapsed().as_secs_f64(), offers = input.traits.len(), "catalogue read");
        let users_given = find_file(dir, "users").is_some();
        let interactions = require_file(dir, "interactions")?;
        if !problems.is_empty() {
            // As an import does: the interactions are still read, so that every bad row is named.
            input.read_interactions_rows(&interactions, users_given, &mut problems)?;
            return problems.finish().map(|_| input);
        }
        let started = Instant::now();
        let fast = FileFormat::from_path(&interactions)? == FileFormat::Parquet
            && input.read_interactions_parquet(&interactions, users_given)?;
        if !fast {
            // The fast path may have added users known only from bookings: start again from the files.
            let mut again = Problems::new(crate::ImportOptions::default().max_errors);
            input = ScoringInput::read_catalogue(dir, &mut again)?;
            again.finish()?;
            input.read_interactions_rows(&interactions, users_given, &mut problems)?;
            problems.finish()?;
        }
        tracing::info!(
            seconds = started.elapsed().as_secs_f64(),
            bookings = input.table.len(),
            columnar = fast,
            "bookings read"
        );
        let started = Instant::now();
        input.columnar = fast;
        input.finish();
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "ties ranked");
        Ok(input)
    }

    /// Venues, offers and users, checked as an import checks them.
    fn read_catalogue(dir: &Path, problems: &mut Problems) -> Result<ScoringInput> {
        let venues_path = require_file(dir, "venues")?;
        let offers_path = require_file(dir, "offers")?;
        // Users do not depend on venues and offers: they are read beside them.
        let (catalogue, users) = rayon::join(
            || -> Result<(ScoringInput, Problems)> {
                let mut problems = Problems::new(crate::ImportOptions::default().max_errors);
                let mut input = ScoringInput::default();
                let mut venues: Vec<Venue> = Vec::new();
                let mut venue_index: HashMap<String, u32> = HashMap::default();
                read_checked::<Venue>(&venues_path, &[], &mut problems, &mut |_, v| {
                    v.validate()?;
                    match venue_index.get(&v.id) {
                        Some(i) => venues[*i as usize] = v,
                        None => {
                            venue_index.insert(v.id.clone(), venues.len() as u32);
                            venues.push(v);
                        }
                    }
                    Ok(())
                })?;
                // The score reads neither an offer's description nor its image embedding: they are not decoded.
                read_checked::<Offer>(&offers_path, OFFER_COLUMNS_NOT_READ, &mut problems, &mut |_, o| {
                    let venue =
                        o.venue_id.as_deref().and_then(|id| venue_index.get(id)).map(|i| (&venues[*i as usize], *i));
                    check_offer(&o, venue.map(|(v, _)| v))?;
                    input.add_offer(o, venue);
                    Ok(())
                })?;
                Ok((input, problems))
            },
            || -> Result<(Vec<User>, Problems)> {
                let mut problems = Problems::new(crate::ImportOptions::default().max_errors);
                let mut users = Vec::new();
                if let Some(path) = find_file(dir, "users") {
                    read_checked::<User>(&path, &[], &mut problems, &mut |_, u| {
                        u.validate()?;
                        users.push(u);
                        Ok(())
                    })?;
                }
                Ok((users, problems))
            },
        );
        let (mut input, catalogue_problems) = catalogue?;
        let (users, user_problems) = users?;
        problems.absorb(catalogue_problems);
        problems.absorb(user_problems);
        for u in users {
            input.add_user(u);
        }
        Ok(input)
    }

    /// Adds (or replaces) an offer, with its venue and the venue's dense index.
    pub fn add_offer(&mut self, offer: Offer, venue: Option<(&Venue, u32)>) {
        let traits = OfferTraits::of(&offer, venue);
        match self.offer_index.get(&offer.id) {
            Some(i) => self.traits[i as usize] = traits,
            None => {
                self.offer_index.insert(&offer.id, self.offer_ids.len() as u32);
                self.traits.push(traits);
                self.offer_ids.push(offer.id);
            }
        }
    }

    /// Adds (or replaces) a user of the users file.
    pub fn add_user(&mut self, user: User) {
        let info = Some((user.birth_date, user.department));
        match self.user_index.get(&user.id) {
            Some(i) => self.user_info[i as usize] = info,
            None => {
                self.user_index.insert(&user.id, self.user_ids.len() as u32);
                self.user_ids.push(user.id);
                self.user_info.push(info);
            }
        }
    }

    /// The index of a user known only from the bookings (no users file).
    fn booking_user(&mut self, id: &str) -> u32 {
        if let Some(i) = self.user_index.get(id) {
            return i;
        }
        let i = self.user_ids.len() as u32;
        self.user_index.insert(id, i);
        self.user_ids.push(id.to_owned());
        self.user_info.push(None);
        i
    }

    fn push_booking(&mut self, id: &str, user: u32, offer: u32, at: i64, cancelled: bool) {
        self.table.user.push(user);
        self.table.offer.push(offer);
        self.table.at.push(at);
        self.table.cancelled.push(cancelled);
        self.booking_ids.push(id);
    }

    fn finish(&mut self) {
        let ids = &self.booking_ids;
        self.table.rank_ties(|i| ids.get(i));
    }

    /// Keeps the bookings marked in `keep`.
    fn retain_bookings(&mut self, keep: &[bool]) {
        fn pick<T: Copy>(v: &[T], keep: &[bool]) -> Vec<T> {
            v.iter().zip(keep).filter(|(_, k)| **k).map(|(x, _)| *x).collect()
        }
        let t = &self.table;
        self.table = BookingTable {
            user: pick(&t.user, keep),
            offer: pick(&t.offer, keep),
            at: pick(&t.at, keep),
            tie: Vec::new(),
            cancelled: pick(&t.cancelled, keep),
        };
        self.booking_ids = self.booking_ids.retain(keep);
    }

    /// The interactions, row by row, through the import's reader and checks
    /// (bookings and cancellations; the other kinds are skipped by their kind).
    fn read_interactions_rows(&mut self, path: &Path, users_given: bool, problems: &mut Problems) -> Result<()> {
        let mut ids: HashMap<String, Scored> = HashMap::default();
        let mut cancellations: Vec<(String, bool)> = Vec::new();
        let mut alive: Vec<bool> = Vec::new();
        let format = FileFormat::from_path(path)?;
        let kind_column = EntityKind::Interactions.fields().iter().position(|f| f.name == "kind").expect("kind");
        let mut bad: Vec<RowError> = Vec::new();
        read_rows(path, format, EntityKind::Interactions, &mut |e| problems.push(e), &mut |line, cells| {
            if let Cell::Str(kind) = &cells[kind_column]
                && matches!(kind.as_str(), "consultation" | "favourite" | "impression")
            {
                return Ok(());
            }
            let interaction = match Interaction::from_cells(&cells) {
                Ok(i) => i,
                Err(field) => {
                    bad.push(RowError {
                        file: path.display().to_string(),
                        line,
                        field: Some(field.field),
                        reason: field.reason,
                    });
                    return Ok(());
                }
            };
            let booking = match &interaction.kind {
                InteractionKind::Cancellation { booking_id } => match ids.get(booking_id.as_str()) {
                    Some(Scored::Booking(row)) => Some(*row as usize),
                    _ => None,
                },
                _ => None,
            };
            let booking = booking.map(|row| {
                (
                    self.user_ids[self.table.user[row] as usize].as_str(),
                    self.offer_ids[self.table.offer[row] as usize].as_str(),
                )
            });
            let found = References {
                user: !users_given || self.user_index.get(&interaction.user_id).is_some(),
                offer: self.offer_index.get(&interaction.offer_id).is_some(),
                booking,
            };
            if let Err(e) = check_interaction(&interaction, found) {
                bad.push(row_error_of(e, path, line)?);
                return Ok(());
            }
            // Upserted by id: a later row replaces the earlier one.
            match ids.get(interaction.id.as_str()) {
                Some(Scored::Booking(row)) => alive[*row as usize] = false,
                Some(Scored::Cancellation(c)) => cancellations[*c as usize].1 = false,
                None => {}
            }
            match interaction.kind {
                InteractionKind::Booking { .. } => {
                    let user = self.booking_user(&interaction.user_id);
                    let offer = self.offer_index.get(&interaction.offer_id).expect("checked above");
                    ids.insert(interaction.id.clone(), Scored::Booking(self.table.len() as u32));
                    self.push_booking(&interaction.id, user, offer, interaction.at.seconds(), false);
                    alive.push(true);
                }
                InteractionKind::Cancellation { booking_id } => {
                    ids.insert(interaction.id.clone(), Scored::Cancellation(cancellations.len() as u32));
                    cancellations.push((booking_id, true));
                }
                _ => unreachable!("other kinds are skipped above"),
            }
            Ok(())
        })?;
        for e in bad {
            problems.push(e);
        }
        for (booking_id, live) in &cancellations {
            if *live && let Some(Scored::Booking(row)) = ids.get(booking_id.as_str()) {
                self.table.cancelled[*row as usize] = true;
            }
        }
        if alive.iter().any(|a| !a) {
            self.retain_bookings(&alive);
        }
        Ok(())
    }

    /// The columnar fast path over a Parquet interactions file. Returns false,
    /// having kept nothing, when some row needs the row reader (a bad or
    /// unusual row, a duplicate id, a column it does not expect).
    fn read_interactions_parquet(&mut self, path: &Path, users_given: bool) -> Result<bool> {
        use parquet::arrow::arrow_reader::{
            ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
        };
        use rayon::prelude::*;
        let parquet_error = |source| IoError::Parquet { path: path.display().to_string(), source };
        let arrow_error = |source| IoError::Arrow { path: path.display().to_string(), source };
        // Few row groups: slices of them as tasks, each skipping the others' pages through the page
        // index. Many: whole row groups, without the page index (reading it costs more than it saves).
        // The footer is parsed once (twice when the page index is wanted); every task opens the
        // file with the parsed metadata.
        let load = |page_index| {
            let file = std::fs::File::open(path).map_err(|e| file_error(path, e))?;
            parquet::arrow::arrow_reader::ArrowReaderMetadata::load(
                &file,
                ArrowReaderOptions::new().with_page_index_policy(page_index),
            )
            .map_err(parquet_error)
        };
        let mut loaded = load(parquet::file::metadata::PageIndexPolicy::Skip)?;
        let sliced = loaded.metadata().num_row_groups() < 4 * rayon::current_num_threads();
        let page_index = if sliced {
            loaded = load(parquet::file::metadata::PageIndexPolicy::Optional)?;
            parquet::file::metadata::PageIndexPolicy::Optional
        } else {
            parquet::file::metadata::PageIndexPolicy::Skip
        };
        let open_with = |metadata: &parquet::arrow::arrow_reader::ArrowReaderMetadata| {
            let file = std::fs::File::open(path).map_err(|e| file_error(path, e))?;
            Ok::<_, IoError>(ParquetRecordBatchReaderBuilder::new_with_metadata(file, metadata.clone()))
        };
        let builder = open_with(&loaded)?;
        let schema = builder.parquet_schema();
        let fields = EntityKind::Interactions.fields();
        let names: Vec<String> = (0..schema.num_columns()).map(|i| schema.column(i).name().to_owned()).collect();
        // A column the interactions schema does not know, or a nested one: the row reader says what is wrong.
        let arrow_schema = builder.schema().clone();
        if names.iter().any(|n| !fields.iter().any(|f| f.name == *n)) || arrow_schema.fields().len() != names.len() {
            return Ok(false);
        }
        let leaf = |name: &str| names.iter().position(|n| n == name);
        let Some(kind_leaf) = leaf("kind") else { return Ok(false) };
        let wanted = ["id", "user_id", "offer_id", "at", "amount_cents", "quantity", "booking_id"];
        let leaves: Vec<usize> = wanted.iter().filter_map(|n| leaf(n)).collect();
        if ["id", "user_id", "offer_id", "at"].iter().any(|n| leaf(n).is_none()) {
            return Ok(false);
        }
        // The kind column read as a dictionary: a handful of values, compared once per batch, not per row.
        let kind_field = arrow_schema.field(kind_leaf);
        let kind_as_dictionary = kind_field.data_type() == &arrow_schema::DataType::Utf8;
        let mut kind_fields: Vec<arrow_schema::FieldRef> = arrow_schema.fields().iter().cloned().collect();
        if kind_as_dictionary {
            kind_fields[kind_leaf] = Arc::new(arrow_schema::Field::new(
                "kind",
                arrow_schema::DataType::Dictionary(
                    Box::new(arrow_schema::DataType::Int32),
                    Box::new(arrow_schema::DataType::Utf8),
                ),
                kind_field.is_nullable(),
            ));
        }
        let kind_schema =
            Arc::new(arrow_schema::Schema::new_with_metadata(kind_fields, arrow_schema.metadata().clone()));
        let kind_loaded = parquet::arrow::arrow_reader::ArrowReaderMetadata::try_new(
            loaded.metadata().clone(),
            ArrowReaderOptions::new().with_page_index_policy(page_index).with_schema(kind_schema),
        )
        .map_err(parquet_error)?;
        let metadata = builder.metadata().clone();
        // Tasks: slices of row groups, so that even a file of a few row groups keeps every core
        // busy; the page index lets a slice skip the pages of the others.
        let slice_rows: usize = if sliced { 1 << 18 } else { usize::MAX };
        let mut tasks: Vec<(usize, usize, usize, u64)> = Vec::new();
        let mut first_row = 0u64;
        for g in 0..metadata.num_row_groups() {
            let rows = metadata.row_group(g).num_rows() as usize;
            for start in (0..rows).step_by(slice_rows) {
                tasks.push((g, start, start.saturating_add(slice_rows).min(rows), first_row + start as u64));
            }
            first_row += rows as u64;
        }
        let (user_index, offer_index) = (&self.user_index, &self.offer_index);
        let phase = Instant::now();
        let parts: Vec<Result<Option<Part>>> = tasks
            .into_par_iter()
            .map(|(g, start, end, first)| {
                let group_rows = metadata.row_group(g).num_rows() as usize;
                let slice = |inner: Vec<RowSelector>| {
                    let mut s = vec![RowSelector::skip(start)];
                    s.extend(inner);
                    s.push(RowSelector::skip(group_rows - end));
                    RowSelection::from(s)
                };
                // 1. The kind of every row of the slice.
                let builder = open_with(&kind_loaded)?;
                let mask = parquet::arrow::ProjectionMask::leaves(builder.parquet_schema(), [kind_leaf]);
                let reader = builder
                    .with_row_groups(vec![g])
                    .with_projection(mask)
                    .with_row_selection(slice(vec![RowSelector::select(end - start)]))
                    .with_batch_size(1 << 16)
                    .build()
                    .map_err(parquet_error)?;
                let mut keep: Vec<bool> = Vec::with_capacity(end - start);
                let mut is_booking: Vec<bool> = Vec::new();
                let mut selected_rows: Vec<u64> = Vec::new();
                for batch in reader {
                    let batch = batch.map_err(arrow_error)?;
                    let Some(classes) = kind_classes(batch.column(0)) else { return Ok(None) };
                    for class in classes {
                        match class {
                            KindClass::Booking | KindClass::Cancellation => {
                                is_booking.push(class == KindClass::Booking);
                                selected_rows.push(first + keep.len() as u64);
                                keep.push(true);
                            }
                            KindClass::Other => keep.push(false),
                            KindClass::Unknown => return Ok(None),
                        }
                    }
                }
                if selected_rows.is_empty() {
                    return Ok(Some(Part::default()));
                }
                // 2. The other columns of the bookings and cancellations only.
                let builder = open_with(&loaded)?;
                let mask = parquet::arrow::ProjectionMask::leaves(builder.parquet_schema(), leaves.iter().copied());
                let inner: Vec<RowSelector> = RowSelection::from_filters(&[BooleanArray::from(keep)]).into();
                let reader = builder
                    .with_row_groups(vec![g])
                    .with_projection(mask)
                    .with_row_selection(slice(inner))
                    .with_batch_size(1 << 16)
                    .build()
                    .map_err(parquet_error)?;
                let n = selected_rows.len();
                let mut part = Part {
                    user: Vec::with_capacity(n),
                    offer: Vec::with_capacity(n),
                    at: Vec::with_capacity(n),
                    rows: Vec::with_capacity(n),
                    ..Part::default()
                };
                part.ids.reserve(16 * n, n);
                let mut offset = 0usize;
                for batch in reader {
                    let batch = batch.map_err(arrow_error)?;
                    let rows = offset..offset + batch.num_rows();
                    let ok = part.add_batch(
                        &batch,
                        &is_booking[rows.clone()],
                        &selected_rows[rows],
                        user_index,
                        offer_index,
                        users_given,
                    );
                    if !ok {
                        return Ok(None);
                    }
                    offset += batch.num_rows();
                }
                Ok(Some(part))
            })
            .collect();
        tracing::info!(seconds = phase.elapsed().as_secs_f64(), "row groups decoded");
        let phase = Instant::now();
        let mut all = Vec::with_capacity(parts.len());
        for part in parts {
            match part? {
                Some(p) => all.push(p),
                None => return Ok(false),
            }
        }
        let merged = self.merge_parts(all);
        tracing::info!(seconds = phase.elapsed().as_secs_f64(), "row groups merged");
        Ok(merged)
    }

    /// Joins the row groups' bookings: ids must be unique among bookings and
    /// cancellations, and every cancellation must cancel an earlier booking
    /// of its user and offer; otherwise (false) the row reader takes over.
    fn merge_parts(&mut self, parts: Vec<Part>) -> bool {
        use rayon::prelude::*;
        let bookings: usize = parts.iter().map(|p| p.user.len()).sum();
        let mut rows: Vec<u64> = Vec::with_capacity(bookings);
        let mut cancellations = Vec::new();
        self.table.user.reserve(bookings);
        self.table.offer.reserve(bookings);
        self.table.at.reserve(bookings);
        self.booking_ids.reserve(parts.iter().map(|p| p.ids.text.len()).sum(), bookings);
        for mut part in parts {
            for (position, user_id) in &part.unknown_users {
                part.user[*position] = self.booking_user(user_id);
            }
            self.table.user.extend(part.user);
            self.table.offer.extend(part.offer);
            self.table.at.extend(part.at);
            self.booking_ids.append(&part.ids);
            rows.extend(part.rows);
            cancellations.extend(part.cancellations);
        }
        self.table.cancelled = vec![false; self.table.len()];
        // Ids are unique among bookings and cancellations (a repeated id is an upsert: the row
        // reader's business). Checked by sorting 64-bit hashes in parallel; equal hashes are
        // compared as strings.
        let ids = &self.booking_ids;
        let hash = |id: &str| {
            use std::hash::{BuildHasher, Hasher};
            let mut h = rustc_hash::FxBuildHasher.build_hasher();
            h.write(id.as_bytes());
            h.finish()
        };
        let mut keyed: Vec<(u64, u32)> = (0..ids.len())
            .into_par_iter()
            .map(|i| (hash(ids.get(i)), i as u32))
            .chain(cancellations.par_iter().enumerate().map(|(c, x)| (hash(&x.id), (ids.len() + c) as u32)))
            .collect();
        keyed.par_sort_unstable();
        let id_of = |k: u32| -> &str {
            let k = k as usize;
            if k < ids.len() { ids.get(k) } else { &cancellations[k - ids.len()].id }
        };
        let duplicate = keyed.par_windows(2).any(|w| w[0].0 == w[1].0 && id_of(w[0].1) == id_of(w[1].1));
        if duplicate {
            return false;
        }
        // Every cancellation cancels one earlier booking of its user and offer, found by the
        // hash of its booking id in the same sorted array (ids are unique: at most one matches).
        let users = &self.user_index;
        let table = &self.table;
        let found: Vec<Option<usize>> = cancellations
            .par_iter()
            .map(|x| {
                let h = hash(&x.booking_id);
                let start = keyed.partition_point(|(k, _)| *k < h);
                let row = keyed[start..]
                    .iter()
                    .take_while(|(k, _)| *k == h)
                    .map(|(_, i)| *i as usize)
                    .find(|i| *i < ids.len() && ids.get(*i) == x.booking_id)?;
                let user = x.user.or_else(|| users.get(&x.user_id))?;
                (rows[row] < x.row && table.user[row] == user && table.offer[row] == x.offer).then_some(row)
            })
            .collect();
        drop(keyed);
        let mut cancelled_rows = Vec::with_capacity(found.len());
        for row in found {
            match row {
                Some(row) => cancelled_rows.push(row),
                None => return false,
            }
        }
        for row in cancelled_rows {
            self.table.cancelled[row] = true;
        }
        true
    }

    /// Writes the resolved bookings (dense user and offer indices, ties,
    /// cancellations, booking ids) so that a later run against the same
    /// catalogue skips resolving string ids. Returns false, writing nothing,
    /// when some bookings are of users absent from the users file.
    pub fn save_dense(&self, path: &Path) -> Result<bool> {
        use arrow_array::{UInt32Array, UInt64Array};
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
            batches.push(
                RecordBatch::try_from_iter(columns)
                    .map_err(|source| IoError::Arrow { path: path.display().to_string(), source })?,
            );
        }
        write_record_batches_with(path, &batches, &["booking_id"])?;
        Ok(true)
    }

    /// Reads bookings written by [`ScoringInput::save_dense`] against this same catalogue.
    pub fn load_dense(&mut self, path: &Path) -> Result<()> {
        use arrow_array::{UInt32Array, UInt64Array};
        let unexpected = || IoError::Arrow {
            path: path.display().to_string(),
            source: arrow_schema::ArrowError::SchemaError("not a cache of resolved bookings".into()),
        };
        fn column<T: 'static>(batch: &RecordBatch, i: usize) -> Option<&T> {
            batch.column(i).as_any().downcast_ref::<T>()
        }
        let parts = crate::map_parquet_row_groups(
            path,
            &["user", "offer", "at", "tie", "cancelled", "booking_id"],
            &|batch| {
                let ids = column::<StringArray>(batch, 5).ok_or_else(unexpected)?;
                let mut part = Ids::default();
                for r in 0..batch.num_rows() {
                    part.push(ids.value(r));
                }
                Ok((
                    column::<UInt32Array>(batch, 0).ok_or_else(unexpected)?.values().to_vec(),
                    column::<UInt32Array>(batch, 1).ok_or_else(unexpected)?.values().to_vec(),
                    column::<Int64Array>(batch, 2).ok_or_else(unexpected)?.values().to_vec(),
                    column::<UInt64Array>(batch, 3).ok_or_else(unexpected)?.values().to_vec(),
                    column::<BooleanArray>(batch, 4)
                        .ok_or_else(unexpected)?
                        .iter()
                        .map(|b| b.unwrap_or(false))
                        .collect::<Vec<bool>>(),
                    part,
                ))
            },
        )?;
        let mut table = BookingTable::default();
        let mut booking_ids = Ids::default();
        for (user, offer, at, tie, cancelled, ids) in parts {
            if user.iter().any(|u| *u as usize >= self.user_ids.len())
                || offer.iter().any(|o| *o as usize >= self.traits.len())
            {
                return Err(unexpected());
            }
            table.user.extend(user);
            table.offer.extend(offer);
            table.at.extend(at);
            table.tie.extend(tie);
            table.cancelled.extend(cancelled);
            booking_ids.append(&ids);
        }
        self.table = table;
        self.booking_ids = booking_ids;
        Ok(())
    }

    /// Writes `user_scores.<ext>` and `booking_points.<ext>` to `out`
    /// (Parquet: built as columns, the two files in parallel); ages are on `on`.
    pub fn write_scores(
        &self,
        scores: &BatchScores,
        out: &Path,
        format: FileFormat,
        on: chrono::NaiveDate,
    ) -> Result<()> {
        std::fs::create_dir_all(out).map_err(|e| file_error(out, e))?;
        let ext = format.extension();
        let (users_path, points_path) =
            (out.join(format!("user_scores.{ext}")), out.join(format!("booking_points.{ext}")));
        if format == FileFormat::Parquet {
            let (a, b) = rayon::join(
                || self.write_user_scores_parquet(scores, &users_path, on),
                || self.write_booking_points_parquet(scores, &points_path),
            );
            return a.and(b);
        }
        let mut users = create_table_sink(&users_path, format, USER_SCORE_FIELDS)?;
        for (u, id) in self.user_ids.iter().enumerate() {
            let info = &self.user_info[u];
            users.write_row(&[
                Cell::Str(id.clone()),
                Cell::Int(i64::from(scores.user_score[u])),
                Cell::Int(i64::from(scores.user_bookings[u])),
                info.as_ref().map_or(Cell::Null, |(b, _)| Cell::Int(i64::from(passeur_domain::age_on(*b, on)))),
                info.as_ref().map_or(Cell::Null, |(_, d)| Cell::Str(d.clone())),
            ])?;
        }
        users.finish()?;
        let mut points = create_table_sink(&points_path, format, BOOKING_POINT_FIELDS)?;
        let t = &self.table;
        for i in 0..t.len() {
            points.write_row(&[
                Cell::Str(self.booking_ids.get(i).to_owned()),
                Cell::Str(self.user_ids[t.user[i] as usize].clone()),
                Cell::Str(self.offer_ids[t.offer[i] as usize].clone()),
                Cell::Int(t.at[i]),
                Cell::Bool(t.cancelled[i]),
                Cell::Int(i64::from(scores.points[i])),
                Cell::Str(Criteria(scores.criteria[i]).to_string()),
            ])?;
        }
        points.finish()?;
        Ok(())
    }

    fn write_user_scores_parquet(&self, scores: &BatchScores, path: &Path, on: chrono::NaiveDate) -> Result<()> {
        let schema = schema_of(USER_SCORE_FIELDS);
        let arrow = |source| IoError::Arrow { path: path.display().to_string(), source };
        let mut batches = Vec::new();
        for start in (0..self.user_ids.len()).step_by(1 << 20) {
            let end = (start + (1 << 20)).min(self.user_ids.len());
            let range = start..end;
            let columns: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from_iter_values(self.user_ids[range.clone()].iter())),
                Arc::new(Int64Array::from_iter_values(scores.user_score[range.clone()].iter().map(|s| i64::from(*s)))),
                Arc::new(Int64Array::from_iter_values(
                    scores.user_bookings[range.clone()].iter().map(|s| i64::from(*s)),
                )),
                Arc::new(Int64Array::from_iter(
                    self.user_info[range.clone()]
                        .iter()
                        .map(|i| i.as_ref().map(|(b, _)| i64::from(passeur_domain::age_on(*b, on)))),
                )),
                Arc::new(StringArray::from_iter(self.user_info[range].iter().map(|i| i.as_ref().map(|(_, d)| d)))),
            ];
            batches.push(RecordBatch::try_new(schema.clone(), columns).map_err(arrow)?);
        }
        if batches.is_empty() {
            batches.push(RecordBatch::new_empty(schema));
        }
        write_record_batches(path, &batches)
    }

    fn write_booking_points_parquet(&self, scores: &BatchScores, path: &Path) -> Result<()> {
        let schema = schema_of(BOOKING_POINT_FIELDS);
        let arrow = |source| IoError::Arrow { path: path.display().to_string(), source };
        let t = &self.table;
        let mut names: HashMap<u16, String> = HashMap::default();
        for c in &scores.criteria {
            names.entry(*c).or_insert_with(|| Criteria(*c).to_string());
        }
        // Chunks of a million rows, built in parallel.
        use rayon::prelude::*;
        let starts: Vec<usize> = (0..t.len()).step_by(1 << 20).collect();
        let mut batches = starts
            .into_par_iter()
            .map(|start| {
                let range = start..(start + (1 << 20)).min(t.len());
                let columns: Vec<ArrayRef> = vec![
                    Arc::new(StringArray::from_iter_values(range.clone().map(|i| self.booking_ids.get(i)))),
                    Arc::new(StringArray::from_iter_values(range.clone().map(|i| &self.user_ids[t.user[i] as usize]))),
                    Arc::new(StringArray::from_iter_values(
                        range.clone().map(|i| &self.offer_ids[t.offer[i] as usize]),
                    )),
                    Arc::new(
                        TimestampMillisecondArray::from_iter_values(
                            range.clone().map(|i| t.at[i].saturating_mul(1000)),
                        )
                        .with_timezone("UTC"),
                    ),
                    Arc::new(BooleanArray::from(t.cancelled[range.clone()].to_vec())),
                    Arc::new(Int64Array::from_iter_values(scores.points[range.clone()].iter().map(|p| i64::from(*p)))),
                    Arc::new(StringArray::from_iter_values(range.map(|i| &names[&scores.criteria[i]]))),
                ];
                RecordBatch::try_new(schema.clone(), columns).map_err(arrow)
            })
            .collect::<Result<Vec<_>>>()?;
        if batches.is_empty() {
            batches.push(RecordBatch::new_empty(schema));
        }
        write_record_batches_with(path, &batches, &["booking_id", "user_id", "offer_id"])
    }
}

/// One row group's bookings and cancellations, resolved.
#[derive(Default)]
struct Part {
    user: Vec<u32>,
    offer: Vec<u32>,
    at: Vec<i64>,
    ids: Ids,
    /// File row of each booking.
    rows: Vec<u64>,
    unknown_users: Vec<(usize, String)>,
    cancellations: Vec<Cancellation>,
}

struct Cancellation {
    id: String,
    /// The user's index, or `None` when it is known only by `user_id` (no users file).
    user: Option<u32>,
    user_id: String,
    offer: u32,
    booking_id: String,
    row: u64,
}

/// What scoring makes of an interaction's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KindClass {
    Booking,
    Cancellation,
    /// A kind scoring does not read.
    Other,
    /// Null, or no kind at all: for the row reader to name.
    Unknown,
}

impl KindClass {
    fn of(kind: Option<&str>) -> KindClass {
        match kind {
            Some("booking") => KindClass::Booking,
            Some("cancellation") => KindClass::Cancellation,
            Some("consultation" | "favourite" | "impression") => KindClass::Other,
            _ => KindClass::Unknown,
        }
    }
}

/// The class of each row of a kind column (a dictionary or plain strings).
fn kind_classes(array: &ArrayRef) -> Option<Vec<KindClass>> {
    if let Some(dict) = array.as_dictionary_opt::<arrow_array::types::Int32Type>() {
        let values = dict.values().as_string_opt::<i32>()?;
        let classes: Vec<KindClass> =
            (0..values.len()).map(|i| KindClass::of(values.is_valid(i).then(|| values.value(i)))).collect();
        let keys = dict.keys();
        return Some(
            (0..keys.len())
                .map(|r| if keys.is_null(r) { KindClass::Unknown } else { classes[keys.value(r) as usize] })
                .collect(),
        );
    }
    let strings = array.as_string_opt::<i32>()?;
    Some((0..strings.len()).map(|r| KindClass::of(strings.is_valid(r).then(|| strings.value(r)))).collect())
}

impl Part {
    /// Adds a batch of selected rows; false when a row needs the row reader.
    fn add_batch(
        &mut self,
        batch: &RecordBatch,
        is_booking: &[bool],
        rows: &[u64],
        user_index: &IdIndex,
        offer_index: &IdIndex,
        users_given: bool,
    ) -> bool {
        let column = |name: &str| batch.schema().index_of(name).ok().map(|i| batch.column(i).clone());
        let strings = |name: &str| column(name).and_then(|c| c.as_string_opt::<i32>().cloned());
        let (Some(id), Some(user), Some(offer), Some(at)) =
            (strings("id"), strings("user_id"), strings("offer_id"), column("at"))
        else {
            return false;
        };
        let Ok(at) = timestamp_seconds(at.as_ref()) else { return false };
        let amount = match column("amount_cents") {
            Some(c) => match c.as_primitive_opt::<arrow_array::types::Int64Type>() {
                Some(a) => Some(a.clone()),
                None => return false,
            },
            None => None,
        };
        let quantity = match column("quantity") {
            Some(c) => match c.as_primitive_opt::<arrow_array::types::Int64Type>() {
                Some(a) => Some(a.clone()),
                None => return false,
            },
            None => None,
        };
        let booking = match column("booking_id") {
            Some(c) => match c.as_string_opt::<i32>() {
                Some(a) => Some(a.clone()),
                None => return false,
            },
            None => None,
        };
        let valid = |s: &str, field| validate_id("interaction", field, s).is_ok();
        // All offer lookups of the batch first, in a tight loop of independent
        // probes, so that their cache misses overlap.
        let offers: Vec<Option<u32>> = (0..batch.num_rows())
            .map(|r| if offer.is_null(r) { None } else { offer_index.get(offer.value(r)) })
            .collect();
        let (mut last_user, mut last_index) = ("", None);
        for r in 0..batch.num_rows() {
            if id.is_null(r) || user.is_null(r) || at.is_null(r) {
                return false;
            }
            let (id_r, user_r) = (id.value(r), user.value(r));
            let Some(o) = offers[r] else { return false };
            if !valid(id_r, "id") || !valid(user_r, "user_id") || !valid(offer.value(r), "offer_id") {
                return false;
            }
            if user_r != last_user {
                last_user = user_r;
                last_index = user_index.get(user_r);
            }
            if users_given && last_index.is_none() {
                return false;
            }
            if is_booking[r] {
                let Some(amount) = amount.as_ref().filter(|a| a.is_valid(r)).map(|a| a.value(r)) else {
                    return false;
                };
                let quantity = quantity.as_ref().filter(|q| q.is_valid(r)).map_or(1, |q| q.value(r));
                if amount < 0 || !(1..=2).contains(&quantity) {
                    return false;
                }
                match last_index {
                    Some(u) => self.user.push(u),
                    None => {
                        self.unknown_users.push((self.user.len(), user_r.to_owned()));
                        self.user.push(u32::MAX);
                    }
                }
                self.offer.push(o);
                self.at.push(at.value(r));
                self.ids.push(id_r);
                self.rows.push(rows[r]);
            } else {
                let Some(b) = booking.as_ref().filter(|b| b.is_valid(r)).map(|b| b.value(r)) else {
                    return false;
                };
                if !valid(b, "booking_id") {
                    return false;
                }
                self.cancellations.push(Cancellation {
                    id: id_r.to_owned(),
                    user: last_index,
                    user_id: user_r.to_owned(),
                    offer: o,
                    booking_id: b.to_owned(),
                    row: rows[r],
                });
            }
        }
        true
    }
}

fn file_error(path: &Path, source: std::io::Error) -> IoError {
    IoError::File { path: path.display().to_string(), source }
}

/// The columns of `user_scores.*`.
pub const USER_SCORE_FIELDS: &[FieldSpec] = &[
    FieldSpec { name: "user_id", ty: FieldType::Str, required: true },
    FieldSpec { name: "score", ty: FieldType::Int, required: true },
    FieldSpec { name: "bookings", ty: FieldType::Int, required: true },
    FieldSpec { name: "age", ty: FieldType::Int, required: false },
    FieldSpec { name: "department", ty: FieldType::Str, required: false },
];

/// The columns of `booking_points.*`.
pub const BOOKING_POINT_FIELDS: &[FieldSpec] = &[
    FieldSpec { name: "booking_id", ty: FieldType::Str, required: true },
    FieldSpec { name: "user_id", ty: FieldType::Str, required: true },
    FieldSpec { name: "offer_id", ty: FieldType::Str, required: true },
    FieldSpec { name: "at", ty: FieldType::Timestamp, required: true },
    FieldSpec { name: "cancelled", ty: FieldType::Bool, required: true },
    FieldSpec { name: "points", ty: FieldType::Int, required: true },
    FieldSpec { name: "criteria", ty: FieldType::Str, required: true },
];
