//! MovieLens-100K (installed by scripts/fetch-assets.sh) enters through the
//! import path and splits as RecBole's protocol says.

use passeur_retrieval::{Dataset, Split, SplitKind};
use passeur_store::{RecordStore, SqliteStore};
use std::path::PathBuf;

fn ml100k() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR when it runs tests"))
        .join("../../data/datasets/ml-100k")
}

#[test]
fn movielens_imports_and_splits_80_10_10_per_user() {
    let source = ml100k();
    assert!(
        source.join("ml-100k.inter").exists(),
        "{} is missing: run scripts/fetch-assets.sh (the test command does)",
        source.display()
    );
    let files = tempfile::tempdir().unwrap();
    let report = passeur_io::convert_movielens(&source, "ml-100k", files.path(), "jsonl").unwrap();
    assert_eq!((report.offers, report.users, report.interactions), (1682, 943, 100_000));
    let data = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(data.path()).unwrap();
    let files = passeur_io::ImportFile::discover(files.path()).unwrap();
    let imported = passeur_io::import_files(&mut store, &files, &Default::default(), &mut |_| {}).unwrap();
    assert_eq!(imported.total(), 1682 + 943 + 100_000);
    assert_eq!(store.counts().unwrap().consultations, 100_000);
    let dataset = Dataset::from_store(&store, None, 4096, None).unwrap();
    assert_eq!(dataset.events(), 100_000);
    let split = Split::new(&dataset, SplitKind::Random { seed: 2020 });
    let sizes = |part: &Vec<Vec<passeur_retrieval::Event>>| part.iter().map(Vec::len).sum::<usize>();
    let (train, valid, test) = (sizes(&split.train), sizes(&split.valid), sizes(&split.test));
    assert_eq!(train + valid + test, 100_000);
    // Every user rated at least 20 movies: each gets floor(10 %) in validation and test.
    for u in 0..dataset.users.len() {
        let n = dataset.timelines[u].len();
        assert!(n >= 20);
        assert_eq!(split.valid[u].len(), n / 10);
        assert_eq!(split.test[u].len(), n / 10);
    }
    // The same seed gives the same split; another seed another one.
    let again = Split::new(&dataset, SplitKind::Random { seed: 2020 });
    assert_eq!(again.test, split.test);
    assert_ne!(Split::new(&dataset, SplitKind::Random { seed: 1 }).test, split.test);
}

#[test]
fn a_malformed_rating_line_is_refused_with_its_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let source = ml100k();
    for ext in ["item", "user"] {
        std::fs::copy(source.join(format!("ml-100k.{ext}")), dir.path().join(format!("bad.{ext}"))).unwrap();
    }
    std::fs::write(
        dir.path().join("bad.inter"),
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t1\t5\t874965758\n1\t2\t3\tyesterday\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = passeur_io::convert_movielens(dir.path(), "bad", out.path(), "csv").unwrap_err().to_string();
    assert!(err.contains("bad.inter:3") && err.contains("timestamp"), "{err}");
}
