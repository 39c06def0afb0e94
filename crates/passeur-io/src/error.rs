//! The io crate's one error type, and the row-level errors an import reports.

use passeur_store::StoreError;
use std::fmt;
use thiserror::Error;

/// Result alias of the io crate.
pub type Result<T, E = IoError> = std::result::Result<T, E>;

/// A field of a row that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The column.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl FieldError {
    pub(crate) fn new(field: &str, reason: impl Into<String>) -> FieldError {
        FieldError { field: field.to_owned(), reason: reason.into() }
    }
}

/// One bad row of an import: where, which field, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The file.
    pub file: String,
    /// 1-based line (CSV and JSON Lines; the CSV header is line 1) or row (Parquet).
    pub line: u64,
    /// The field, when one is to blame.
    pub field: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(field) = &self.field {
            write!(f, "field {field}: ")?;
        }
        f.write_str(&self.reason)
    }
}

/// Everything that can go wrong while importing or exporting.
#[derive(Debug, Error)]
pub enum IoError {
    /// The import found bad rows and applied nothing.
    #[error("rejected, nothing applied: {total} bad row(s); first: {}", errors.first().map(ToString::to_string).unwrap_or_default())]
    Rejected {
        /// The errors kept (up to the configured maximum).
        errors: Vec<RowError>,
        /// How many errors there were in all.
        total: usize,
    },
    /// The file's extension names no known format.
    #[error("{path}: unknown format; use .csv, .jsonl (or .ndjson) or .parquet")]
    UnknownFormat {
        /// The file.
        path: String,
    },
    /// The file's name names no known entity.
    #[error("{path}: cannot tell what the file holds; name it venues.*, offers.*, users.* or interactions.*")]
    UnknownKind {
        /// The file.
        path: String,
    },
    /// A directory of files lacks one that is needed.
    #[error("{dir} holds no {stem}.parquet, {stem}.csv or {stem}.jsonl")]
    NoFile {
        /// The directory.
        dir: String,
        /// The file's name without extension (`venues`, `offers`, `interactions`).
        stem: &'static str,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The CSV library failed outside a row (e.g. while writing).
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: String,
        /// The cause.
        source: csv::Error,
    },
    /// The Parquet library failed.
    #[error("{path}: {source}")]
    Parquet {
        /// The file.
        path: String,
        /// The cause.
        source: parquet::errors::ParquetError,
    },
    /// The Arrow library failed.
    #[error("{path}: {source}")]
    Arrow {
        /// The file.
        path: String,
        /// The cause.
        source: arrow_schema::ArrowError,
    },
    /// The record store failed (not a bad row: those are reported as [`IoError::Rejected`]).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Bad rows of an all-or-nothing read: every one counted, the first `max` kept,
/// reported sorted by file and line as [`IoError::Rejected`]. Shared by
/// [`crate::import_files`] and the scoring reader, so both report alike.
pub(crate) struct Problems {
    kept: Vec<RowError>,
    total: usize,
    max: usize,
}

impl Problems {
    pub(crate) fn new(max: usize) -> Problems {
        Problems { kept: Vec::new(), total: 0, max }
    }

    /// True when no bad row was seen.
    pub(crate) fn is_empty(&self) -> bool {
        self.total == 0
    }

    pub(crate) fn push(&mut self, e: RowError) {
        self.total += 1;
        if self.kept.len() < self.max {
            self.kept.push(e);
        }
    }

    /// Adds another collection's problems (those it counted without keeping stay counted).
    pub(crate) fn absorb(&mut self, other: Problems) {
        let unkept = other.total - other.kept.len();
        for e in other.kept {
            self.push(e);
        }
        self.total += unkept;
    }

    pub(crate) fn finish(mut self) -> Result<()> {
        if self.total == 0 {
            return Ok(());
        }
        self.kept.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        Err(IoError::Rejected { errors: self.kept, total: self.total })
    }
}
