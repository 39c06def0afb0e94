//! Imports into and exports from a record store.

use crate::error::{IoError, Problems, Result, RowError};
use crate::formats::{FileFormat, RowSink, create_sink, read_rows};
use crate::schema::{Cell, EntityKind, Record};
use passeur_domain::{DomainError, Interaction, Offer, User, Venue};
use passeur_store::{ImportTransaction, RecordStore, StoreError};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// One file to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFile {
    /// Where it is.
    pub path: PathBuf,
    /// What it holds.
    pub kind: EntityKind,
    /// How it is written.
    pub format: FileFormat,
}

impl ImportFile {
    /// Recognises a file by its name: `venues.csv`, `offers.parquet`, `interactions.jsonl`, ...
    pub fn from_path(path: &Path) -> Result<ImportFile> {
        let format = FileFormat::from_path(path)?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let kind =
            EntityKind::from_stem(stem).ok_or_else(|| IoError::UnknownKind { path: path.display().to_string() })?;
        Ok(ImportFile { path: path.to_owned(), kind, format })
    }

    /// The importable files of a directory (`venues.*`, `offers.*`, `users.*`, `interactions.*`).
    pub fn discover(dir: &Path) -> Result<Vec<ImportFile>> {
        let entries =
            std::fs::read_dir(dir).map_err(|source| IoError::File { path: dir.display().to_string(), source })?;
        let mut files = Vec::new();
        for entry in entries {
            let path = entry.map_err(|source| IoError::File { path: dir.display().to_string(), source })?.path();
            if let Ok(file) = ImportFile::from_path(&path) {
                files.push(file);
            }
        }
        files.sort_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)));
        Ok(files)
    }
}

/// Settings of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// How many row errors to keep for the report (all are counted).
    pub max_errors: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { max_errors: 1_000 }
    }
}

/// What an import applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows upserted, by entity.
    pub rows: BTreeMap<EntityKind, u64>,
}

impl ImportReport {
    /// All rows.
    pub fn total(&self) -> u64 {
        self.rows.values().sum()
    }
}

/// Splits a store error into a row error (bad data) or a real failure.
pub(crate) fn row_error_of(error: StoreError, file: &Path, line: u64) -> Result<RowError> {
    let at = |field: Option<&str>, reason: String| RowError {
        file: file.display().to_string(),
        line,
        field: field.map(str::to_owned),
        reason,
    };
    Ok(match error {
        StoreError::Domain(DomainError::InvalidField { field, reason, .. }) => at(Some(field), reason),
        StoreError::Domain(e @ DomainError::UnknownCode { .. }) => at(None, e.to_string()),
        StoreError::Domain(e) => at(None, e.to_string()),
        StoreError::UnknownReference { field, target, missing, .. } => {
            at(Some(field), format!("no {target} with id {missing:?}"))
        }
        e @ (StoreError::AlreadyCancelled { .. } | StoreError::NotBookable { .. }) => at(None, e.to_string()),
        // Imports write row by row; a batch error can only come from a live batch, whose item is the row.
        StoreError::InBatch { source, .. } => return row_error_of(*source, file, line),
        e @ (StoreError::Corrupt { .. }
        | StoreError::SchemaTooNew { .. }
        | StoreError::Io { .. }
        | StoreError::Sqlite(_)
        | StoreError::PostgresUnreachable { .. }
        | StoreError::Postgres(_)) => return Err(IoError::Store(e)),
    })
}

fn upsert(
    tx: &mut dyn ImportTransaction,
    kind: EntityKind,
    cells: &[Cell],
) -> Result<std::result::Result<(), StoreError>, crate::FieldError> {
    Ok(match kind {
        EntityKind::Venues => tx.upsert_venue(&Venue::from_cells(cells)?),
        EntityKind::Offers => tx.upsert_offer(&Offer::from_cells(cells)?),
        EntityKind::Users => tx.upsert_user(&User::from_cells(cells)?),
        EntityKind::Interactions => tx.upsert_interaction(&Interaction::from_cells(cells)?),
    })
}

/// Imports files into a store, all or nothing: venues first, then offers,
/// users and interactions. Every bad row is reported with its file, line,
/// field and reason; if there is any, nothing is applied and the error is
/// [`IoError::Rejected`]. Records are upserted by id, so importing the same
/// files twice changes nothing. `progress` receives the rows read so far.
pub fn import_files(
    store: &mut dyn RecordStore,
    files: &[ImportFile],
    options: &ImportOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<ImportReport> {
    let mut files = files.to_vec();
    files.sort_by_key(|f| f.kind);
    let mut tx = store.begin_import()?;
    let mut problems = Problems::new(options.max_errors);
    let mut report = ImportReport::default();
    let mut read = 0u64;
    for file in &files {
        let mut bad_rows: Vec<RowError> = Vec::new();
        let mut applied = 0u64;
        read_rows(&file.path, file.format, file.kind, &mut |e| problems.push(e), &mut |line, cells| {
            read += 1;
            if read.is_multiple_of(10_000) {
                progress(read);
            }
            match upsert(tx.as_mut(), file.kind, &cells) {
                Err(field) => bad_rows.push(RowError {
                    file: file.path.display().to_string(),
                    line,
                    field: Some(field.field),
                    reason: field.reason,
                }),
                Ok(Err(store_error)) => bad_rows.push(row_error_of(store_error, &file.path, line)?),
                Ok(Ok(())) => applied += 1,
            }
            Ok(())
        })?;
        for e in bad_rows {
            problems.push(e);
        }
        *report.rows.entry(file.kind).or_default() += applied;
    }
    progress(read);
    if let Err(rejected) = problems.finish() {
        // Dropping the transaction rolls everything back.
        drop(tx);
        return Err(rejected);
    }
    tx.commit()?;
    Ok(report)
}

/// Writes records of one kind to a file, atomically.
pub struct RecordWriter<R: Record> {
    sink: Box<dyn RowSink>,
    _record: PhantomData<fn(&R)>,
}

impl<R: Record> RecordWriter<R> {
    /// Creates `path` (its format from its extension).
    pub fn create(path: &Path) -> Result<RecordWriter<R>> {
        let format = FileFormat::from_path(path)?;
        Ok(RecordWriter { sink: create_sink(path, format, R::KIND)?, _record: PhantomData })
    }

    /// Writes one record.
    pub fn write(&mut self, record: &R) -> Result<()> {
        self.sink.write_row(&record.to_cells())
    }

    /// Finishes the file; returns the rows written.
    pub fn finish(self) -> Result<u64> {
        self.sink.finish()
    }
}

/// Reads every record of a file (bad rows are reported, all of them, as [`IoError::Rejected`]).
pub fn read_records<R: Record>(path: &Path) -> Result<Vec<R>> {
    let mut out = Vec::new();
    for_each_record(path, &mut |r| out.push(r))?;
    Ok(out)
}

/// Streams every record of a file to `visit`, without holding them all;
/// returns how many there were. Bad rows are reported, all of them, as
/// [`IoError::Rejected`] at the end.
pub fn for_each_record<R: Record>(path: &Path, visit: &mut dyn FnMut(R)) -> Result<u64> {
    let format = FileFormat::from_path(path)?;
    let mut errors = Vec::new();
    let mut bad_rows = Vec::new();
    let mut count = 0u64;
    read_rows(path, format, R::KIND, &mut |e| errors.push(e), &mut |line, cells| {
        match R::from_cells(&cells) {
            Ok(r) => {
                count += 1;
                visit(r);
            }
            Err(e) => bad_rows.push(RowError {
                file: path.display().to_string(),
                line,
                field: Some(e.field),
                reason: e.reason,
            }),
        }
        Ok(())
    })?;
    errors.extend(bad_rows);
    if errors.is_empty() {
        Ok(count)
    } else {
        let total = errors.len();
        Err(IoError::Rejected { errors, total })
    }
}

/// Exports a whole store to `dir` as `venues.<ext>`, `offers.<ext>`,
/// `users.<ext>` and `interactions.<ext>`. Returns rows written by entity.
pub fn export_store(
    store: &dyn RecordStore,
    dir: &Path,
    format: FileFormat,
    progress: &mut dyn FnMut(u64),
) -> Result<BTreeMap<EntityKind, u64>> {
    let mut written = BTreeMap::new();
    let mut count = 0u64;
    for kind in EntityKind::ALL {
        let path = dir.join(format!("{}.{}", kind.stem(), format.extension()));
        let mut sink = create_sink(&path, format, kind)?;
        let mut failure: Option<IoError> = None;
        let mut write = |cells: Vec<Cell>| -> passeur_store::Result<()> {
            count += 1;
            if count.is_multiple_of(10_000) {
                progress(count);
            }
            if failure.is_none()
                && let Err(e) = sink.write_row(&cells)
            {
                failure = Some(e);
            }
            Ok(())
        };
        match kind {
            EntityKind::Venues => store.scan_venues(&mut |r| write(r.to_cells()))?,
            EntityKind::Offers => store.scan_offers(&mut |r| write(r.to_cells()))?,
            EntityKind::Users => store.scan_users(&mut |r| write(r.to_cells()))?,
            EntityKind::Interactions => store.scan_interactions(&mut |r| write(r.to_cells()))?,
        }
        if let Some(e) = failure {
            return Err(e);
        }
        written.insert(kind, sink.finish()?);
    }
    progress(count);
    Ok(written)
}
