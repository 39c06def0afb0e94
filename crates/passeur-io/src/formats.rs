//! Reading and writing rows of cells as CSV, JSON Lines and Parquet.

use crate::error::{IoError, Result, RowError};
use crate::schema::{Cell, EntityKind, FieldSpec, FieldType};
use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Float32Builder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float32Array, Float64Array, Int64Array, ListArray, RecordBatch,
    StringArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use passeur_domain::Timestamp;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileFormat {
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON object per line.
    JsonLines,
    /// Apache Parquet.
    Parquet,
}

impl FileFormat {
    /// The extension written on export.
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::JsonLines => "jsonl",
            FileFormat::Parquet => "parquet",
        }
    }

    /// Recognises a file's format by its extension.
    pub fn from_path(path: &Path) -> Result<FileFormat> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("csv") => Ok(FileFormat::Csv),
            Some("jsonl" | "ndjson") => Ok(FileFormat::JsonLines),
            Some("parquet") => Ok(FileFormat::Parquet),
            _ => Err(IoError::UnknownFormat { path: path.display().to_string() }),
        }
    }

    /// Parses `csv`, `jsonl` or `parquet`.
    pub fn parse(name: &str) -> Option<FileFormat> {
        match name {
            "csv" => Some(FileFormat::Csv),
            "jsonl" | "ndjson" | "json" => Some(FileFormat::JsonLines),
            "parquet" => Some(FileFormat::Parquet),
            _ => None,
        }
    }
}

fn file_error(path: &Path, source: std::io::Error) -> IoError {
    IoError::File { path: path.display().to_string(), source }
}

/// Where decoded rows go: each row's line number and cells aligned with the schema.
pub(crate) type RowVisitor<'a> = dyn FnMut(u64, Vec<Cell>) -> Result<()> + 'a;

/// Reads every row of a file. Rows that cannot be decoded go to `errors`;
/// the others to `visit`.
pub(crate) fn read_rows(
    path: &Path,
    format: FileFormat,
    kind: EntityKind,
    errors: &mut dyn FnMut(RowError),
    visit: &mut RowVisitor<'_>,
) -> Result<()> {
    read_rows_skipping(path, format, kind, &[], errors, visit)
}

/// [`read_rows`], with the optional columns named in `skip` left out of
/// every row (as if absent; a Parquet file does not even decode them).
pub(crate) fn read_rows_skipping(
    path: &Path,
    format: FileFormat,
    kind: EntityKind,
    skip: &[&str],
    errors: &mut dyn FnMut(RowError),
    visit: &mut RowVisitor<'_>,
) -> Result<()> {
    debug_assert!(skip.iter().all(|n| kind.fields().iter().any(|f| f.name == *n && !f.required)));
    if skip.is_empty() || format == FileFormat::Parquet {
        return match format {
            FileFormat::Csv => read_csv(path, kind, errors, visit),
            FileFormat::JsonLines => read_jsonl(path, kind, errors, visit),
            FileFormat::Parquet => read_parquet(path, kind, skip, errors, visit),
        };
    }
    let skipped: Vec<usize> =
        kind.fields().iter().enumerate().filter(|(_, f)| skip.contains(&f.name)).map(|(i, _)| i).collect();
    let mut blank = |line, mut cells: Vec<Cell>| {
        for i in &skipped {
            cells[*i] = Cell::Null;
        }
        visit(line, cells)
    };
    match format {
        FileFormat::Csv => read_csv(path, kind, errors, &mut blank),
        _ => read_jsonl(path, kind, errors, &mut blank),
    }
}

fn row_error(path: &Path, line: u64, field: Option<&str>, reason: impl Into<String>) -> RowError {
    RowError { file: path.display().to_string(), line, field: field.map(str::to_owned), reason: reason.into() }
}

/// Maps a file's column names to the schema; reports unknown and missing columns.
fn map_columns<'a>(
    path: &Path,
    fields: &'static [FieldSpec],
    names: impl Iterator<Item = &'a str>,
    errors: &mut dyn FnMut(RowError),
) -> Option<Vec<Option<usize>>> {
    let mut by_field = vec![None; fields.len()];
    let mut ok = true;
    for (i, name) in names.enumerate() {
        match fields.iter().position(|f| f.name == name.trim()) {
            Some(f) => by_field[f] = Some(i),
            None => {
                ok = false;
                let known: Vec<_> = fields.iter().map(|f| f.name).collect();
                errors(row_error(
                    path,
                    1,
                    Some(name),
                    format!("unknown column; expected some of {}", known.join(", ")),
                ));
            }
        }
    }
    for (f, spec) in fields.iter().enumerate() {
        if spec.required && by_field[f].is_none() {
            ok = false;
            errors(row_error(path, 1, Some(spec.name), "required column is missing"));
        }
    }
    ok.then_some(by_field)
}

fn read_csv(path: &Path, kind: EntityKind, errors: &mut dyn FnMut(RowError), visit: &mut RowVisitor<'_>) -> Result<()> {
    let file = File::open(path).map_err(|e| file_error(path, e))?;
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(BufReader::new(file));
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            errors(row_error(path, 1, None, format!("unreadable header: {e}")));
            return Ok(());
        }
    };
    let fields = kind.fields();
    let Some(columns) = map_columns(path, fields, headers.iter(), errors) else { return Ok(()) };
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(line, |p| p.line());
                if record.len() != headers.len() {
                    errors(row_error(
                        path,
                        line,
                        None,
                        format!("{} values, the header has {}", record.len(), headers.len()),
                    ));
                    continue;
                }
                let cells = columns
                    .iter()
                    .map(|c| match c.map(|i| &record[i]) {
                        None | Some("") => Cell::Null,
                        Some(v) => Cell::Str(v.to_owned()),
                    })
                    .collect();
                visit(line, cells)?;
            }
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line());
                errors(row_error(path, line, None, format!("malformed CSV: {e}")));
                if !matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
                    break;
                }
            }
        }
    }
    Ok(())
}

fn json_to_cell(value: serde_json::Value) -> std::result::Result<Cell, String> {
    use serde_json::Value;
    Ok(match value {
        Value::Null => Cell::Null,
        Value::Bool(b) => Cell::Bool(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Cell::Int(i),
            None => Cell::Float(n.as_f64().ok_or("number out of range")?),
        },
        Value::String(s) => Cell::Str(s),
        Value::Array(items) => Cell::FloatList(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| v.as_f64().map(|x| x as f32).ok_or_else(|| format!("item {i} is not a number")))
                .collect::<std::result::Result<_, _>>()?,
        ),
        Value::Object(_) => return Err("nested objects are not supported".into()),
    })
}

fn read_jsonl(
    path: &Path,
    kind: EntityKind,
    errors: &mut dyn FnMut(RowError),
    visit: &mut RowVisitor<'_>,
) -> Result<()> {
    let file = File::open(path).map_err(|e| file_error(path, e))?;
    let fields = kind.fields();
    let mut text = String::new();
    let mut reader = BufReader::new(file);
    let mut line = 0u64;
    loop {
        text.clear();
        line += 1;
        match reader.read_line(&mut text) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                errors(row_error(path, line, None, "not valid UTF-8"));
                continue;
            }
            Err(e) => return Err(file_error(path, e)),
        }
        if text.trim().is_empty() {
            continue;
        }
        let object = match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text) {
            Ok(o) => o,
            Err(e) => {
                errors(row_error(path, line, None, format!("not a JSON object: {e}")));
                continue;
            }
        };
        let mut cells = vec![Cell::Null; fields.len()];
        let mut bad = false;
        for (key, value) in object {
            match fields.iter().position(|f| f.name == key) {
                Some(i) => match json_to_cell(value) {
                    Ok(cell) => cells[i] = cell,
                    Err(reason) => {
                        bad = true;
                        errors(row_error(path, line, Some(&key), reason));
                    }
                },
                None => {
                    bad = true;
                    errors(row_error(path, line, Some(&key), "unknown field"));
                }
            }
        }
        if !bad {
            visit(line, cells)?;
        }
    }
    Ok(())
}

fn arrow_type(ty: FieldType) -> DataType {
    match ty {
        FieldType::Str => DataType::Utf8,
        FieldType::Int => DataType::Int64,
        FieldType::Float => DataType::Float64,
        FieldType::Bool => DataType::Boolean,
        // Milliseconds, not seconds: Parquet has no second unit, and a column
        // written as `Timestamp(Second)` is stored as a bare INT64 that
        // pandas, DuckDB and Spark read as a number, not as a time.
        FieldType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        FieldType::Date => DataType::Date32,
        FieldType::FloatList => DataType::List(Arc::new(Field::new("item", DataType::Float32, true))),
    }
}

/// The Arrow schema of an entity's Parquet files.
pub fn arrow_schema(kind: EntityKind) -> SchemaRef {
    schema_of(kind.fields())
}

/// The Arrow schema of a table with these columns.
pub fn schema_of(fields: &[FieldSpec]) -> SchemaRef {
    Arc::new(Schema::new(fields.iter().map(|f| Field::new(f.name, arrow_type(f.ty), !f.required)).collect::<Vec<_>>()))
}

/// Writes record batches (one schema) as a Parquet file, atomically.
pub fn write_record_batches(path: &Path, batches: &[RecordBatch]) -> Result<()> {
    write_record_batches_with(path, batches, &[])
}

/// [`write_record_batches`], with the columns named in `unique` written
/// without a dictionary (ids that never repeat gain nothing from one, and
/// building it costs more than the rest of the file).
pub fn write_record_batches_with(path: &Path, batches: &[RecordBatch], unique: &[&str]) -> Result<()> {
    let Some(first) = batches.first() else { return Ok(()) };
    let tmp = path.with_extension("parquet.tmp");
    let file = File::create(&tmp).map_err(|e| file_error(&tmp, e))?;
    let mut props =
        parquet::file::properties::WriterProperties::builder().set_compression(parquet::basic::Compression::SNAPPY);
    for column in unique {
        props = props.set_column_dictionary_enabled(parquet::schema::types::ColumnPath::from(*column), false);
    }
    let props = props.build();
    let parquet_error = |source| IoError::Parquet { path: path.display().to_string(), source };
    // Each batch is a row group whose columns are encoded in parallel (parquet's low-level
    // writer API), with the Arrow schema stored as `ArrowWriter` stores it.
    use rayon::prelude::*;
    let schema = first.schema();
    let mut props = props;
    parquet::arrow::add_encoded_arrow_schema_to_metadata(&schema, &mut props);
    let props = Arc::new(props);
    let parquet_schema = parquet::arrow::ArrowSchemaConverter::new()
        .with_coerce_types(props.coerce_types())
        .convert(&schema)
        .map_err(parquet_error)?;
    let mut writer =
        parquet::file::writer::SerializedFileWriter::new(file, parquet_schema.root_schema_ptr(), props.clone())
            .map_err(parquet_error)?;
    let factory = parquet::arrow::arrow_writer::ArrowRowGroupWriterFactory::new(&writer, schema.clone());
    const ROW_GROUP: usize = 1 << 20;
    let slices = batches.iter().flat_map(|b| {
        (0..b.num_rows().max(1))
            .step_by(ROW_GROUP)
            .map(move |start| b.slice(start, ROW_GROUP.min(b.num_rows() - start)))
    });
    for (index, batch) in slices.enumerate() {
        let writers = factory.create_column_writers(index).map_err(parquet_error)?;
        let mut leaves = Vec::with_capacity(writers.len());
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            leaves.extend(parquet::arrow::arrow_writer::compute_leaves(field, column).map_err(parquet_error)?);
        }
        let chunks = writers
            .into_par_iter()
            .zip(leaves.par_iter())
            .map(|(mut w, leaf)| {
                w.write(leaf)?;
                w.close()
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(parquet_error)?;
        let mut row_group = writer.next_row_group().map_err(parquet_error)?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut row_group).map_err(parquet_error)?;
        }
        row_group.close().map_err(parquet_error)?;
    }
    writer.close().map_err(parquet_error)?;
    std::fs::rename(&tmp, path).map_err(|e| file_error(path, e))
}

/// The leaf columns of a Parquet schema with these names, in order.
fn leaf_indices(
    path: &Path,
    schema: &parquet::schema::types::SchemaDescriptor,
    columns: &[&str],
) -> Result<Vec<usize>> {
    columns
        .iter()
        .map(|name| {
            (0..schema.num_columns()).find(|i| schema.column(*i).name() == *name).ok_or_else(|| IoError::Arrow {
                path: path.display().to_string(),
                source: arrow_schema::ArrowError::SchemaError(format!("no column {name:?}")),
            })
        })
        .collect()
}

/// Reads every column of a Parquet file as record batches.
pub fn read_parquet_batches(path: &Path) -> Result<Vec<RecordBatch>> {
    let parquet_error = |source| IoError::Parquet { path: path.display().to_string(), source };
    let file = File::open(path).map_err(|e| file_error(path, e))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(parquet_error)?
        .with_batch_size(65_536)
        .build()
        .map_err(parquet_error)?;
    reader.map(|b| b.map_err(|source| IoError::Arrow { path: path.display().to_string(), source })).collect()
}

/// Maps every record batch of a Parquet file, reading only the named
/// columns, with row groups decoded in parallel; results come back in file
/// order.
pub fn map_parquet_row_groups<T: Send>(
    path: &Path,
    columns: &[&str],
    map: &(dyn Fn(&RecordBatch) -> Result<T> + Sync),
) -> Result<Vec<T>> {
    use rayon::prelude::*;
    let parquet_error = |source| IoError::Parquet { path: path.display().to_string(), source };
    let open = || -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder<File>> {
        let file = File::open(path).map_err(|e| file_error(path, e))?;
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error)
    };
    let builder = open()?;
    let groups = builder.metadata().num_row_groups();
    let schema = builder.parquet_schema();
    let indices = leaf_indices(path, schema, columns)?;
    let per_group: Vec<Result<Vec<T>>> = (0..groups)
        .into_par_iter()
        .map(|g| {
            let builder = open()?;
            let mask = parquet::arrow::ProjectionMask::leaves(builder.parquet_schema(), indices.clone());
            let reader = builder
                .with_row_groups(vec![g])
                .with_projection(mask)
                .with_batch_size(65_536)
                .build()
                .map_err(parquet_error)?;
            let mut out = Vec::new();
            for batch in reader {
                let batch = batch.map_err(|source| IoError::Arrow { path: path.display().to_string(), source })?;
                out.push(map(&batch)?);
            }
            Ok(out)
        })
        .collect();
    let mut out = Vec::new();
    for group in per_group {
        out.extend(group?);
    }
    Ok(out)
}

/// Streams a Parquet file's record batches, reading only the named columns
/// (all of them must exist): the fast path for bulk numeric work.
pub fn scan_parquet_columns(
    path: &Path,
    columns: &[&str],
    visit: &mut dyn FnMut(&RecordBatch) -> Result<()>,
) -> Result<u64> {
    let parquet_error = |source| IoError::Parquet { path: path.display().to_string(), source };
    let file = File::open(path).map_err(|e| file_error(path, e))?;
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error)?;
    let schema = builder.parquet_schema();
    let indices = leaf_indices(path, schema, columns)?;
    let mask = parquet::arrow::ProjectionMask::leaves(schema, indices);
    let reader = builder.with_projection(mask).with_batch_size(65_536).build().map_err(parquet_error)?;
    let mut rows = 0u64;
    for batch in reader {
        let batch = batch.map_err(|source| IoError::Arrow { path: path.display().to_string(), source })?;
        rows += batch.num_rows() as u64;
        visit(&batch)?;
    }
    Ok(rows)
}

/// Why a timestamp column could not be read: the row (within the array) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampError {
    /// Row within the array.
    pub row: usize,
    /// What is wrong, in the words the text formats use.
    pub reason: String,
}

/// A column of instants as whole seconds since 1970-01-01T00:00:00Z: every
/// Arrow timestamp unit (s, ms, µs, ns), with or without a time zone (Arrow
/// stores instants in UTC; a zone-less timestamp is read as UTC), integers
/// (seconds: passeur's files before timestamps were typed, and what other
/// tools write for epoch seconds) and RFC 3339 text. A value with a
/// sub-second part is refused as the text formats refuse it, so that every
/// format reads to the same records.
pub fn timestamp_seconds(array: &dyn Array) -> std::result::Result<Int64Array, TimestampError> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{
        Int32Type, Int64Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
        TimestampSecondType,
    };
    fn scaled(
        values: impl Iterator<Item = Option<i64>>,
        per_second: i64,
    ) -> std::result::Result<Int64Array, TimestampError> {
        let mut out = Int64Builder::new();
        for (row, v) in values.enumerate() {
            match v {
                None => out.append_null(),
                Some(v) if v.rem_euclid(per_second) != 0 => {
                    let seconds = v.div_euclid(per_second);
                    let text = Timestamp(seconds).to_string();
                    return Err(TimestampError {
                        row,
                        reason: format!("{text:?} has sub-second digits; timestamps are whole seconds"),
                    });
                }
                Some(v) => out.append_value(in_range(row, v / per_second)?),
            }
        }
        Ok(out.finish())
    }
    fn in_range(row: usize, seconds: i64) -> std::result::Result<i64, TimestampError> {
        Timestamp::checked(seconds).map(Timestamp::seconds).map_err(|reason| TimestampError { row, reason })
    }
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => scaled(array.as_primitive::<TimestampSecondType>().iter(), 1),
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            scaled(array.as_primitive::<TimestampMillisecondType>().iter(), 1_000)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            scaled(array.as_primitive::<TimestampMicrosecondType>().iter(), 1_000_000)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            scaled(array.as_primitive::<TimestampNanosecondType>().iter(), 1_000_000_000)
        }
        DataType::Int64 => scaled(array.as_primitive::<Int64Type>().iter(), 1),
        DataType::Int32 => scaled(array.as_primitive::<Int32Type>().iter().map(|v| v.map(i64::from)), 1),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let text = arrow_cast::cast(array, &DataType::Utf8)
                .map_err(|e| TimestampError { row: 0, reason: e.to_string() })?;
            let mut out = Int64Builder::new();
            for (row, v) in text.as_string::<i32>().iter().enumerate() {
                match v {
                    None => out.append_null(),
                    Some(t) => out
                        .append_value(Timestamp::parse(t).map_err(|reason| TimestampError { row, reason })?.seconds()),
                }
            }
            Ok(out.finish())
        }
        DataType::Null => Ok(Int64Array::new_null(array.len())),
        other => Err(TimestampError {
            row: 0,
            reason: format!(
                "a column of type {other} cannot be read as a timestamp (a Parquet timestamp, integer seconds or RFC 3339 text)"
            ),
        }),
    }
}

fn cell_at(array: &dyn Array, ty: FieldType, row: usize) -> Cell {
    if array.is_null(row) {
        return Cell::Null;
    }
    let any = array.as_any();
    match ty {
        FieldType::Str => Cell::Str(any.downcast_ref::<StringArray>().expect("cast").value(row).to_owned()),
        FieldType::Int => Cell::Int(any.downcast_ref::<Int64Array>().expect("cast").value(row)),
        FieldType::Float => Cell::Float(any.downcast_ref::<Float64Array>().expect("cast").value(row)),
        FieldType::Bool => Cell::Bool(any.downcast_ref::<BooleanArray>().expect("cast").value(row)),
        // Timestamp columns are normalised to seconds by `timestamp_seconds` before this.
        FieldType::Timestamp => Cell::Int(any.downcast_ref::<Int64Array>().expect("cast").value(row)),
        FieldType::Date => Cell::Int(i64::from(any.downcast_ref::<Date32Array>().expect("cast").value(row))),
        FieldType::FloatList => {
            let list = any.downcast_ref::<ListArray>().expect("cast").value(row);
            let values = list.as_any().downcast_ref::<Float32Array>().expect("cast");
            Cell::FloatList(values.iter().map(|v| v.unwrap_or(f32::NAN)).collect())
        }
    }
}

fn read_parquet(
    path: &Path,
    kind: EntityKind,
    skip: &[&str],
    errors: &mut dyn FnMut(RowError),
    visit: &mut RowVisitor<'_>,
) -> Result<()> {
    let parquet_error = |source| IoError::Parquet { path: path.display().to_string(), source };
    let file = File::open(path).map_err(|e| file_error(path, e))?;
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error)?;
    let fields = kind.fields();
    let file_schema = builder.schema().clone();
    let Some(mut columns) = map_columns(path, fields, file_schema.fields().iter().map(|f| f.name().as_str()), errors)
    else {
        return Ok(());
    };
    // Columns are found by name in each batch: the projection below drops the skipped ones.
    let names: Vec<Option<String>> = fields
        .iter()
        .zip(&columns)
        .map(|(spec, c)| c.filter(|_| !skip.contains(&spec.name)).map(|i| file_schema.field(i).name().clone()))
        .collect();
    for (c, name) in columns.iter_mut().zip(&names) {
        if name.is_none() {
            *c = None;
        }
    }
    let roots: Vec<usize> =
        (0..file_schema.fields().len()).filter(|i| !skip.contains(&file_schema.field(*i).name().trim())).collect();
    let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder.with_projection(mask).with_batch_size(8192).build().map_err(parquet_error)?;
    let options = arrow_cast::CastOptions { safe: false, ..Default::default() };
    let mut row_number = 0u64;
    for batch in reader {
        let batch: RecordBatch = batch.map_err(|source| IoError::Arrow { path: path.display().to_string(), source })?;
        let mut arrays: Vec<Option<ArrayRef>> = Vec::with_capacity(fields.len());
        for (spec, name) in fields.iter().zip(&names) {
            let Some(column) = name.as_deref().and_then(|n| batch.column_by_name(n)) else {
                arrays.push(None);
                continue;
            };
            if spec.ty == FieldType::Timestamp {
                match timestamp_seconds(column.as_ref()) {
                    Ok(a) => arrays.push(Some(Arc::new(a))),
                    Err(TimestampError { row, reason }) => {
                        errors(row_error(path, row_number + 1 + row as u64, Some(spec.name), reason));
                        return Ok(());
                    }
                }
                continue;
            }
            let target = arrow_type(spec.ty);
            match arrow_cast::cast_with_options(column, &target, &options) {
                Ok(a) => arrays.push(Some(a)),
                Err(e) => {
                    errors(row_error(
                        path,
                        row_number + 1,
                        Some(spec.name),
                        format!("column of type {} cannot be read as {target}: {e}", column.data_type()),
                    ));
                    return Ok(());
                }
            }
        }
        for row in 0..batch.num_rows() {
            row_number += 1;
            let cells = fields
                .iter()
                .zip(&arrays)
                .map(|(spec, a)| a.as_ref().map_or(Cell::Null, |a| cell_at(a.as_ref(), spec.ty, row)))
                .collect();
            visit(row_number, cells)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- writing

/// Somewhere rows of one entity are written.
pub trait RowSink: Send {
    /// Writes one row (cells aligned with the entity's fields).
    fn write_row(&mut self, cells: &[Cell]) -> Result<()>;
    /// Flushes and moves the file into place; returns the rows written.
    fn finish(self: Box<Self>) -> Result<u64>;
}

/// Opens a sink that writes an entity's file atomically (to a temporary name, renamed on finish).
pub fn create_sink(path: &Path, format: FileFormat, kind: EntityKind) -> Result<Box<dyn RowSink>> {
    create_table_sink(path, format, kind.fields())
}

/// Opens a sink that writes a table with these columns atomically.
pub fn create_table_sink(path: &Path, format: FileFormat, fields: &'static [FieldSpec]) -> Result<Box<dyn RowSink>> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| file_error(parent, e))?;
    }
    let tmp = path.with_extension(format!("{}.tmp", format.extension()));
    let file = File::create(&tmp).map_err(|e| file_error(&tmp, e))?;
    let target = Target { tmp, path: path.to_owned(), rows: 0 };
    Ok(match format {
        FileFormat::Csv => {
            let mut writer = csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, file));
            writer
                .write_record(fields.iter().map(|f| f.name))
                .map_err(|source| IoError::Csv { path: path.display().to_string(), source })?;
            Box::new(CsvSink { writer, fields, target, buffer: Vec::new() })
        }
        FileFormat::JsonLines => Box::new(JsonSink { writer: BufWriter::with_capacity(1 << 20, file), fields, target }),
        FileFormat::Parquet => {
            let props = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::SNAPPY)
                .build();
            let schema = schema_of(fields);
            let writer = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), Some(props))
                .map_err(|source| IoError::Parquet { path: path.display().to_string(), source })?;
            let columns = fields.iter().map(|f| ColumnBuilder::new(f.ty)).collect();
            Box::new(ParquetSink { writer, schema, fields, columns, pending: 0, target })
        }
    })
}

struct Target {
    tmp: PathBuf,
    path: PathBuf,
    rows: u64,
}

impl Target {
    fn commit(self) -> Result<u64> {
        std::fs::rename(&self.tmp, &self.path).map_err(|e| file_error(&self.path, e))?;
        Ok(self.rows)
    }
}

fn format_float_list(values: &[f32]) -> String {
    let mut out = String::with_capacity(values.len() * 10);
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&v.to_string());
    }
    out
}

fn text_of(cell: &Cell, ty: FieldType) -> String {
    match (cell, ty) {
        (Cell::Null, _) => String::new(),
        (Cell::Int(i), FieldType::Timestamp) => Timestamp(*i).to_string(),
        (Cell::Int(d), FieldType::Date) => {
            crate::schema::days_to_date(*d).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
        }
        (Cell::Int(i), _) => i.to_string(),
        (Cell::Str(s), _) => s.clone(),
        (Cell::Float(x), _) => x.to_string(),
        (Cell::Bool(b), _) => b.to_string(),
        (Cell::FloatList(v), _) => format_float_list(v),
    }
}

struct CsvSink {
    writer: csv::Writer<BufWriter<File>>,
    fields: &'static [FieldSpec],
    target: Target,
    buffer: Vec<String>,
}

impl RowSink for CsvSink {
    fn write_row(&mut self, cells: &[Cell]) -> Result<()> {
        self.buffer.clear();
        self.buffer.extend(cells.iter().zip(self.fields).map(|(c, f)| text_of(c, f.ty)));
        self.writer
            .write_record(&self.buffer)
            .map_err(|source| IoError::Csv { path: self.target.path.display().to_string(), source })?;
        self.target.rows += 1;
        Ok(())
    }
    fn finish(mut self: Box<Self>) -> Result<u64> {
        self.writer.flush().map_err(|e| file_error(&self.target.path, e))?;
        let inner = self.writer.into_inner().map_err(|e| file_error(&self.target.path, e.into_error()))?;
        inner.into_inner().map_err(|e| file_error(&self.target.path, e.into_error()))?.sync_all().ok();
        self.target.commit()
    }
}

struct JsonRow<'a>(&'a [FieldSpec], &'a [Cell]);

impl serde::Serialize for JsonRow<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for (spec, cell) in self.0.iter().zip(self.1) {
            match (cell, spec.ty) {
                (Cell::Null, _) => continue,
                (Cell::Int(_), FieldType::Timestamp | FieldType::Date) => {
                    map.serialize_entry(spec.name, &text_of(cell, spec.ty))?
                }
                (Cell::Int(i), _) => map.serialize_entry(spec.name, i)?,
                (Cell::Str(s), _) => map.serialize_entry(spec.name, s)?,
                (Cell::Float(x), _) => map.serialize_entry(spec.name, x)?,
                (Cell::Bool(b), _) => map.serialize_entry(spec.name, b)?,
                (Cell::FloatList(v), _) => map.serialize_entry(spec.name, v)?,
            }
        }
        map.end()
    }
}

struct JsonSink {
    writer: BufWriter<File>,
    fields: &'static [FieldSpec],
    target: Target,
}

impl RowSink for JsonSink {
    fn write_row(&mut self, cells: &[Cell]) -> Result<()> {
        serde_json::to_writer(&mut self.writer, &JsonRow(self.fields, cells))
            .map_err(|e| file_error(&self.target.path, e.into()))?;
        self.writer.write_all(b"\n").map_err(|e| file_error(&self.target.path, e))?;
        self.target.rows += 1;
        Ok(())
    }
    fn finish(mut self: Box<Self>) -> Result<u64> {
        self.writer.flush().map_err(|e| file_error(&self.target.path, e))?;
        self.target.commit()
    }
}

enum ColumnBuilder {
    Str(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Timestamp(TimestampMillisecondBuilder),
    Date(Date32Builder),
    FloatList(ListBuilder<Float32Builder>),
}

impl ColumnBuilder {
    fn new(ty: FieldType) -> ColumnBuilder {
        match ty {
            FieldType::Str => ColumnBuilder::Str(StringBuilder::new()),
            FieldType::Int => ColumnBuilder::Int(Int64Builder::new()),
            FieldType::Float => ColumnBuilder::Float(Float64Builder::new()),
            FieldType::Bool => ColumnBuilder::Bool(BooleanBuilder::new()),
            FieldType::Timestamp => ColumnBuilder::Timestamp(TimestampMillisecondBuilder::new().with_timezone("UTC")),
            FieldType::Date => ColumnBuilder::Date(Date32Builder::new()),
            FieldType::FloatList => ColumnBuilder::FloatList(ListBuilder::new(Float32Builder::new())),
        }
    }

    fn push(&mut self, cell: &Cell) {
        match (self, cell) {
            (ColumnBuilder::Str(b), Cell::Str(s)) => b.append_value(s),
            (ColumnBuilder::Int(b), Cell::Int(i)) => b.append_value(*i),
            (ColumnBuilder::Float(b), Cell::Float(x)) => b.append_value(*x),
            (ColumnBuilder::Bool(b), Cell::Bool(x)) => b.append_value(*x),
            // Seconds to milliseconds; timestamps are range-checked when read
            // (`Timestamp::parse`, `RowReader::opt_timestamp`), far inside i64 / 1000.
            (ColumnBuilder::Timestamp(b), Cell::Int(i)) => b.append_value(i.saturating_mul(1000)),
            (ColumnBuilder::Date(b), Cell::Int(d)) => b.append_value(i32::try_from(*d).unwrap_or(i32::MAX)),
            (ColumnBuilder::FloatList(b), Cell::FloatList(v)) => {
                b.values().append_slice(v);
                b.append(true);
            }
            (ColumnBuilder::Str(b), _) => b.append_null(),
            (ColumnBuilder::Int(b), _) => b.append_null(),
            (ColumnBuilder::Float(b), _) => b.append_null(),
            (ColumnBuilder::Bool(b), _) => b.append_null(),
            (ColumnBuilder::Timestamp(b), _) => b.append_null(),
            (ColumnBuilder::Date(b), _) => b.append_null(),
            (ColumnBuilder::FloatList(b), _) => b.append(false),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Str(b) => Arc::new(b.finish()),
            ColumnBuilder::Int(b) => Arc::new(b.finish()),
            ColumnBuilder::Float(b) => Arc::new(b.finish()),
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(b) => Arc::new(b.finish()),
            ColumnBuilder::Date(b) => Arc::new(b.finish()),
            ColumnBuilder::FloatList(b) => Arc::new(b.finish()),
        }
    }
}

struct ParquetSink {
    writer: parquet::arrow::ArrowWriter<File>,
    schema: SchemaRef,
    fields: &'static [FieldSpec],
    columns: Vec<ColumnBuilder>,
    pending: usize,
    target: Target,
}

impl ParquetSink {
    const BATCH_ROWS: usize = 65_536;

    fn flush_batch(&mut self) -> Result<()> {
        if self.pending == 0 {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(ColumnBuilder::finish).collect();
        let path = self.target.path.display().to_string();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|source| IoError::Arrow { path: path.clone(), source })?;
        self.writer.write(&batch).map_err(|source| IoError::Parquet { path, source })?;
        self.pending = 0;
        Ok(())
    }
}

impl RowSink for ParquetSink {
    fn write_row(&mut self, cells: &[Cell]) -> Result<()> {
        debug_assert_eq!(cells.len(), self.fields.len());
        for (builder, cell) in self.columns.iter_mut().zip(cells) {
            builder.push(cell);
        }
        self.pending += 1;
        self.target.rows += 1;
        if self.pending >= Self::BATCH_ROWS {
            self.flush_batch()?;
        }
        Ok(())
    }
    fn finish(mut self: Box<Self>) -> Result<u64> {
        self.flush_batch()?;
        let path = self.target.path.display().to_string();
        let file = self.writer.into_inner().map_err(|source| IoError::Parquet { path, source })?;
        file.sync_all().ok();
        self.target.commit()
    }
}
