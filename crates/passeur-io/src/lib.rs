//! Bulk import and export of venues, offers, users and interactions, as CSV,
//! JSON Lines and Parquet.
//!
//! Files are named after what they hold (`venues.csv`, `offers.parquet`,
//! `interactions.jsonl`). Columns are described by [`EntityKind::fields`];
//! timestamps are RFC 3339 text in CSV and JSON Lines and second-precision
//! timestamps in Parquet; money is in integer euro cents; image embeddings
//! are space-separated numbers in CSV and lists in the other formats.
//!
//! An import is all or nothing: [`import_files`] reads every row, reports
//! every bad one with its file, line and field, and applies nothing unless
//! all are good. Records are upserted by id, so re-importing is idempotent,
//! and an export imports back to the same records.
//!
//! ```
//! use passeur_io::{FileFormat, ImportFile, ImportOptions, IoError, import_files};
//! use passeur_store::{RecordStore, SqliteStore};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let csv = dir.path().join("users.csv");
//! std::fs::write(&csv, "id,birth_date,department,credit_cents\nu1,2007-05-01,75,30000\nu2,2008-13-01,69,2000\n").unwrap();
//! let mut store = SqliteStore::open(&dir.path().join("data")).unwrap();
//! let files = [ImportFile::from_path(&csv).unwrap()];
//! match import_files(&mut store, &files, &ImportOptions::default(), &mut |_| {}) {
//!     Err(IoError::Rejected { errors, .. }) => {
//!         assert_eq!(errors[0].line, 3);
//!         assert_eq!(errors[0].field.as_deref(), Some("birth_date"));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! assert_eq!(store.counts().unwrap().users, 0); // nothing applied
//! ```

mod error;
mod formats;
mod movielens;
mod schema;
mod scoring;
mod transfer;

/// Re-exported so that callers of [`scan_parquet_columns`] share this crate's Arrow.
pub use arrow_array;
pub use arrow_cast;
pub use arrow_schema::DataType;
pub use error::{FieldError, IoError, Result, RowError};
pub use formats::{
    FileFormat, RowSink, TimestampError, arrow_schema, create_sink, create_table_sink, map_parquet_row_groups,
    read_parquet_batches, scan_parquet_columns, schema_of, timestamp_seconds, write_record_batches,
    write_record_batches_with,
};
pub use movielens::{MovieLensReport, convert_movielens};
pub use schema::{Cell, EntityKind, FieldSpec, FieldType, Record};
pub use scoring::{BOOKING_POINT_FIELDS, IdIndex, Ids, ScoringCache, ScoringInput, USER_SCORE_FIELDS, find_file};
pub use transfer::{
    ImportFile, ImportOptions, ImportReport, RecordWriter, export_store, for_each_record, import_files, read_records,
};
