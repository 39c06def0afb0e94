//! `passeur bench diversity --against-duckdb`: the batch score from a
//! world's files, side by side with the SQL a data team would otherwise run
//! in DuckDB over the same files, in one run, outputs compared row by row.

use anyhow::{Context, Result, bail};
use passeur_io::arrow_array::cast::AsArray;
use passeur_io::arrow_array::types::Int64Type;
use passeur_io::arrow_array::{Array, RecordBatch};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// The deck's rule as DuckDB SQL (placeholders `{dir}`, `{taxonomy}`, `{out}`, `{on}`).
const DECK_SQL: &str = include_str!("../../passeur-diversity/sql/deck-2023.duckdb.sql");

/// Runs the SQL in DuckDB's Python package and prints the query's own seconds.
const DUCKDB_RUNNER: &str = r#"
import sys, time, duckdb
sql = open(sys.argv[1]).read()
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
started = time.perf_counter()
con.execute(sql)
print(f"{time.perf_counter() - started:.6f}")
"#;

/// Settings of the side-by-side run.
pub struct DuckdbBench<'a> {
    /// The world's files (venues, offers, users, interactions as Parquet).
    pub files: &'a Path,
    /// Scratch space: fresh data directories and outputs.
    pub work: &'a Path,
    /// Runs of each contender; the median is reported.
    pub runs: usize,
    /// A Python with the `duckdb` package, if given.
    pub python: Option<PathBuf>,
}

/// A Python interpreter that can `import duckdb`: `--python`, then
/// `$PASSEUR_DUCKDB_PYTHON`, then the environment `scripts/duckdb-env.sh`
/// makes, then `python3`.
fn find_python(given: Option<&Path>) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = given.map(Path::to_path_buf).into_iter().collect();
    if let Ok(p) = std::env::var("PASSEUR_DUCKDB_PYTHON") {
        candidates.push(p.into());
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".cache/passeur-tools/duckdb-2.0.0/bin/python"));
    }
    candidates.push("python3".into());
    candidates
        .into_iter()
        .find(|p| Command::new(p).args(["-c", "import duckdb"]).output().map(|o| o.status.success()).unwrap_or(false))
}

fn duckdb_version(python: &Path) -> String {
    Command::new(python)
        .args(["-c", "import duckdb; print(duckdb.__version__)"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The taxonomy file DuckDB joins: pass Culture's public subcategories, as embedded in passeur.
fn write_taxonomy(path: &Path) -> Result<()> {
    let mut text = String::from("id\tcategory_id\tonline_offline_platform\tdiversity_format\n");
    for s in passeur_domain::SubcategoryId::all() {
        let info = s.info();
        let platform = match info.platform {
            passeur_domain::Platform::Online => "ONLINE",
            passeur_domain::Platform::Offline => "OFFLINE",
            passeur_domain::Platform::OnlineOrOffline => "ONLINE_OR_OFFLINE",
        };
        let format = match info.format {
            passeur_domain::Format::Physical => "physical",
            passeur_domain::Format::Digital => "digital",
            passeur_domain::Format::Event => "event",
        };
        text.push_str(&format!("{}\t{}\t{platform}\t{format}\n", s.canonical(), info.category.canonical()));
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn run_passeur(data_dir: &Path, files: &Path, out: &Path) -> Result<f64> {
    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let output = Command::new(exe)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["diversity", "score", "--from"])
        .arg(files)
        .arg("--out")
        .arg(out)
        .args(["--on", "2026-01-01"])
        .env("RUST_LOG", "warn")
        .output()?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!("passeur diversity score failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(seconds)
}

fn run_duckdb(python: &Path, sql: &Path) -> Result<(f64, f64)> {
    let started = Instant::now();
    let output = Command::new(python).args(["-c", DUCKDB_RUNNER]).arg(sql).output()?;
    let wall = started.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!("DuckDB failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default().trim();
    let query: f64 = last.parse().with_context(|| format!("DuckDB's timing: {last:?}"))?;
    Ok((query, wall))
}

/// (points, criteria, cancelled) by booking id, and (score, bookings, age) by user id.
type Scores = (HashMap<String, (i64, String, bool)>, HashMap<String, (i64, i64, Option<i64>)>);

fn read_scores(dir: &Path) -> Result<Scores> {
    fn column<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a dyn Array> {
        Ok(b.column(b.schema().index_of(name)?).as_ref())
    }
    fn ints(b: &RecordBatch, name: &str) -> Result<Vec<Option<i64>>> {
        let c = passeur_io::arrow_array::cast::as_primitive_array::<Int64Type>;
        let array = passeur_io::arrow_cast::cast(column(b, name)?, &passeur_io::DataType::Int64)?;
        Ok(c(&array).iter().collect())
    }
    let mut points = HashMap::new();
    for b in passeur_io::read_parquet_batches(&dir.join("booking_points.parquet"))? {
        let ids = passeur_io::arrow_cast::cast(column(&b, "booking_id")?, &passeur_io::DataType::Utf8)?;
        let criteria = passeur_io::arrow_cast::cast(column(&b, "criteria")?, &passeur_io::DataType::Utf8)?;
        let cancelled = column(&b, "cancelled")?.as_boolean().clone();
        for (r, p) in ints(&b, "points")?.into_iter().enumerate() {
            points.insert(
                ids.as_string::<i32>().value(r).to_owned(),
                (p.unwrap_or(-1), criteria.as_string::<i32>().value(r).to_owned(), cancelled.value(r)),
            );
        }
    }
    let mut users = HashMap::new();
    for b in passeur_io::read_parquet_batches(&dir.join("user_scores.parquet"))? {
        let ids = passeur_io::arrow_cast::cast(column(&b, "user_id")?, &passeur_io::DataType::Utf8)?;
        let (score, bookings, age) = (ints(&b, "score")?, ints(&b, "bookings")?, ints(&b, "age")?);
        for (r, ((s, n), a)) in score.into_iter().zip(bookings).zip(age).enumerate() {
            users.insert(ids.as_string::<i32>().value(r).to_owned(), (s.unwrap_or(-1), n.unwrap_or(-1), a));
        }
    }
    Ok((points, users))
}

/// Rows that differ between two outputs (missing on either side included).
fn mismatches<K: std::hash::Hash + Eq, V: PartialEq>(a: &HashMap<K, V>, b: &HashMap<K, V>) -> usize {
    a.iter().filter(|(k, v)| b.get(*k) != Some(*v)).count() + b.keys().filter(|k| !a.contains_key(*k)).count()
}

pub fn run(bench: &DuckdbBench<'_>) -> Result<ExitCode> {
    let Some(python) = find_python(bench.python.as_deref()) else {
        bail!(
            "no DuckDB found: run `bash scripts/duckdb-env.sh` (a virtual environment with DuckDB's Python package \
             under ~/.cache/passeur-tools), or name a Python that has it with --python or PASSEUR_DUCKDB_PYTHON"
        );
    };
    let work = bench.work;
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work)?;
    let taxonomy = work.join("subcategories.tsv");
    write_taxonomy(&taxonomy)?;
    let files = std::fs::canonicalize(bench.files)?;
    let duck_out = work.join("duckdb-out");
    std::fs::create_dir_all(&duck_out)?;
    let sql = DECK_SQL
        .replace("{dir}", &files.display().to_string())
        .replace("{taxonomy}", &taxonomy.display().to_string())
        .replace("{out}", &duck_out.display().to_string())
        .replace("{on}", "2026-01-01");
    let sql_path = work.join("deck-2023.sql");
    std::fs::write(&sql_path, &sql)?;
    let interactions = std::fs::metadata(files.join("interactions.parquet"))?.len();
    out!(
        "diversification score from files, side by side ({} runs each, median; files in the OS page cache for both)",
        bench.runs
    );
    out!("  files: {} (interactions.parquet {:.0} MiB)", files.display(), interactions as f64 / (1 << 20) as f64);
    out!("  DuckDB {} through {}", duckdb_version(&python), python.display());

    let (mut cold, mut second, mut cached) = (Vec::new(), Vec::new(), Vec::new());
    let (mut duck_query, mut duck_wall) = (Vec::new(), Vec::new());
    let passeur_out = work.join("passeur-out");
    for run in 0..bench.runs {
        // Alternate the contenders so that drift in the machine's load hits both.
        let data_dir = work.join(format!("data-{run}"));
        cold.push(run_passeur(&data_dir, &files, &passeur_out)?);
        // The second run over the same files writes the cache; the third reads it.
        second.push(run_passeur(&data_dir, &files, &passeur_out)?);
        cached.push(run_passeur(&data_dir, &files, &passeur_out)?);
        let (q, w) = run_duckdb(&python, &sql_path)?;
        duck_query.push(q);
        duck_wall.push(w);
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    let (cold, second, cached) = (median(cold), median(second), median(cached));
    let (query, wall) = (median(duck_query), median(duck_wall));
    let (ours, theirs) = (read_scores(&passeur_out)?, read_scores(&duck_out)?);
    let booking_mismatches = mismatches(&ours.0, &theirs.0);
    let user_mismatches = mismatches(&ours.1, &theirs.1);
    out!("  {:<58} {:>9} {:>12}", "", "seconds", "DuckDB / it");
    out!(
        "  {:<58} {:>9.3} {:>12.2}",
        "passeur cold (fresh data directory, no cache; whole command)",
        cold,
        query / cold
    );
    out!("  {:<58} {:>9.3} {:>12.2}", "passeur, second run (writes the cache; whole command)", second, query / second);
    out!("  {:<58} {:>9.3} {:>12.2}", "passeur cached (third run: bookings from the cache)", cached, query / cached);
    out!("  {:<58} {:>9.3} {:>12}", "DuckDB, the query alone (connect and interpreter excluded)", query, "1.00");
    out!("  {:<58} {:>9.3}", "DuckDB, whole process (Python start, import, query)", wall);
    out!(
        "  target: passeur cold ≥ 5× faster than DuckDB's query: {}",
        if query / cold >= 5.0 { "met" } else { "MISSED" }
    );
    out!(
        "  outputs compared: {} bookings, {} mismatches; {} users, {} mismatches",
        ours.0.len(),
        booking_mismatches,
        ours.1.len(),
        user_mismatches
    );
    if booking_mismatches + user_mismatches > 0 {
        bail!("passeur and DuckDB disagree on {} rows", booking_mismatches + user_mismatches);
    }
    Ok(ExitCode::SUCCESS)
}
