//! PostgreSQL for the tests and benchmarks of passeur's crates: the server
//! that `scripts/postgres.sh` runs, and throwaway databases on it.

use crate::{PostgresStore, Result};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

/// The URL of the test server: `PASSEUR_TEST_POSTGRES` when set (as
/// `scripts/test.sh` sets it), else the server that `scripts/postgres.sh
/// start` starts (installing Debian's postgresql when missing).
///
/// # Panics
/// When the script fails: the tests that need PostgreSQL cannot run without it.
pub fn server_url() -> String {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        if let Some(url) = std::env::var_os("PASSEUR_TEST_POSTGRES") {
            return url.into_string().expect("PASSEUR_TEST_POSTGRES is UTF-8");
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/postgres.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg("start")
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        assert!(out.status.success(), "{} start failed: {}", script.display(), String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("the script prints a URL").trim().to_owned()
    })
    .clone()
}

/// A fresh database on the test server, dropped (with its connections) when this is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    server: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates a database with a name of its own (`<prefix>_<pid>_<n>_<nanos>`).
    pub fn new(prefix: &str) -> Result<TestDatabase> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let server = server_url();
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
        let name = format!("{prefix}_{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let url = PostgresStore::fresh_database(&server, &name)?;
        Ok(TestDatabase { server, name, url })
    }

    /// Its connection string.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new connection to it.
    pub fn connect(&self) -> Result<PostgresStore> {
        PostgresStore::connect(&self.url)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = PostgresStore::drop_database(&self.server, &self.name);
    }
}
