//! The `passeur` binary, end to end.

use std::path::Path;
use std::process::{Command, Output};

fn passeur(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_passeur"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn generate_import_stats_export_and_a_rejected_import() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let world = tmp.path().join("world");
    let w = world.to_str().unwrap();
    ok(passeur(&data, &["generate", "--scale", "small", "--seed", "3", "--out", w, "--format", "csv"]));
    assert!(world.join("ground_truth_users.jsonl").exists());
    let imported = ok(passeur(&data, &["import", w]));
    assert!(imported.starts_with("imported "), "{imported}");
    let stats: serde_json::Value =
        serde_json::from_str(&ok(passeur(&data, &["stats", "--json", "--on", "2024-01-01"]))).unwrap();
    assert_eq!(stats["counts"]["users"], 400);
    assert_eq!(stats["counts"]["offers"], 2000);
    let ages = stats["users_by_age"].as_object().unwrap();
    assert!(ages.keys().all(|a| ["15", "16", "17", "18"].contains(&a.as_str())), "{ages:?}");
    let exported = tmp.path().join("export");
    ok(passeur(&data, &["export", "--out", exported.to_str().unwrap(), "--format", "jsonl"]));
    assert!(exported.join("interactions.jsonl").exists());

    std::fs::write(tmp.path().join("users.csv"), "id,birth_date,department,credit_cents\nu-new,2007-01-01,75,abc\n")
        .unwrap();
    let out = passeur(&data, &["import", tmp.path().join("users.csv").to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("users.csv:2: field credit_cents: \"abc\" is not an integer"), "{stderr}");
    assert!(stderr.contains("nothing was applied"), "{stderr}");
}

#[test]
fn demo_builds_its_world_once_then_starts_from_the_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = ok(passeur(&data, &["demo", "--scale", "small"]));
    assert!(first.contains("first run"), "{first}");
    assert!(first.contains("bookings by category"), "{first}");
    let second = ok(passeur(&data, &["demo", "--scale", "small"]));
    assert!(!second.contains("first run"), "{second}");
    assert!(second.contains("400 users"), "{second}");
}

#[test]
fn stats_without_a_store_says_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let out = passeur(&tmp.path().join("none"), &["stats"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("run `passeur import` or `passeur demo` first"));
}
