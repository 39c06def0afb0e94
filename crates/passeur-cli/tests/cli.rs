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
    let args = ["demo", "--scale", "small", "--setup-only", "--no-upgrade"];
    let first = ok(passeur(&data, &args));
    assert!(first.contains("first run"), "{first}");
    assert!(first.contains("bookings by category"), "{first}");
    for step in ["training retrieval", "training ranking"] {
        assert!(first.contains(step), "{step}: {first}");
    }
    assert!(data.join("models/retrieval/bundle.json").exists());
    assert!(data.join("models/ranking/ranking.json").exists());
    // The LanceDB table is built only where passeur has it; the service never needs it.
    assert_eq!(first.contains("building the LanceDB index"), cfg!(feature = "lancedb"), "{first}");
    assert_eq!(data.join("index").exists(), cfg!(feature = "lancedb"));
    let second = ok(passeur(&data, &args));
    assert!(!second.contains("first run"), "{second}");
    assert!(!second.contains("training"), "the second run reuses the models: {second}");
    // A later run names the world it serves without counting every record again.
    assert!(second.contains("the world set up earlier (scale=Small seed=42)"), "{second}");

    // The report over that data directory: every section, numbers and no NaN.
    let report = data.join("report.html");
    let printed = ok(passeur(
        &data,
        &[
            "report",
            "--out",
            report.to_str().unwrap(),
            "--ranking-users",
            "100",
            "--sim-rounds",
            "600",
            "--sim-seeds",
            "2",
        ],
    ));
    assert!(printed.contains("wrote"), "{printed}");
    let html = std::fs::read_to_string(&report).unwrap();
    for section in [
        "Retrieval: finding the offers users go on to book",
        "Ranking: p(click) + p(booking)",
        "<h2>Diversity</h2>",
        "Catalogue exposure",
        "Off-policy estimators against the truth",
        "two-tower",
        "item-kNN",
        "Δdiv objective, λ = 1",
        "Gini (partners)",
        "Gateway offers: entering a new kind of culture",
        "Most frequent entries",
        "independent IPS",
        "<svg",
    ] {
        assert!(html.contains(section), "{section} missing from the report");
    }
    assert!(!html.contains("NaN") && !html.contains(">inf<"), "a number is not a number");
    assert!(html.contains("No served list is recorded yet"), "a fresh demo has served no list");

    // The territory of the department with the most residents, as JSON.
    let json = ok(passeur(&data, &["territory", "--department", "75", "--json"]));
    let view: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(view["scope"], "department");
    assert!(
        view["users"].as_u64().unwrap() > 0 && view["activity"]["total"]["bookings"].as_u64().unwrap() > 0,
        "{view}"
    );
    let missing = passeur(&data, &["territory", "--partner", "P-nobody"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("partner_id \"P-nobody\""));
}

#[test]
fn stats_without_a_store_says_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let out = passeur(&tmp.path().join("none"), &["stats"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("run `passeur import` or `passeur demo` first"));
}

#[test]
fn diversity_score_writes_every_users_score_and_every_bookings_points() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let world = tmp.path().join("world");
    ok(passeur(&data, &["generate", "--scale", "small", "--out", world.to_str().unwrap()]));
    ok(passeur(&data, &["import", world.to_str().unwrap()]));
    let out = tmp.path().join("scores");
    let printed = ok(passeur(
        &data,
        &["diversity", "score", "--out", out.to_str().unwrap(), "--format", "csv", "--on", "2024-01-01"],
    ));
    assert!(printed.contains("mean score by age"), "{printed}");
    let users = std::fs::read_to_string(out.join("user_scores.csv")).unwrap();
    let points = std::fs::read_to_string(out.join("booking_points.csv")).unwrap();
    assert_eq!(users.lines().count(), 401, "a header and 400 users");
    let total_users: u64 = users.lines().skip(1).map(|l| l.split(',').nth(1).unwrap().parse::<u64>().unwrap()).sum();
    let total_points: u64 = points.lines().skip(1).map(|l| l.split(',').nth(5).unwrap().parse::<u64>().unwrap()).sum();
    assert_eq!(total_users, total_points, "a user's score is the sum of their bookings' points");
    assert!(points.lines().skip(1).any(|l| l.ends_with(",1,first_booking")), "first bookings are named");
    // The same from the generated files, and with the weighted rules.
    let score_from_files = |out: &Path| {
        let args = ["diversity", "score", "--from", world.to_str().unwrap(), "--out", out.to_str().unwrap()];
        ok(passeur(&data, &[&args[..], &["--format", "csv", "--on", "2024-01-01"]].concat()))
    };
    let from_files = tmp.path().join("from-files");
    score_from_files(&from_files);
    assert_eq!(std::fs::read_to_string(from_files.join("user_scores.csv")).unwrap(), users);
    // A first run only marks the files seen; the second caches the bookings it resolved, and the
    // third reads them from the data directory's cache, and agrees.
    let cached =
        || -> Vec<_> { std::fs::read_dir(data.join("cache")).unwrap().map(|e| e.unwrap().file_name()).collect() };
    assert_eq!(cached().len(), 1, "{:?}", cached());
    score_from_files(&tmp.path().join("second"));
    assert_eq!(cached().len(), 2, "{:?}", cached());
    let again = tmp.path().join("again");
    let printed = score_from_files(&again);
    assert!(printed.contains("from the cache"), "{printed}");
    assert_eq!(std::fs::read_to_string(again.join("user_scores.csv")).unwrap(), users);
    assert_eq!(
        std::fs::read_to_string(again.join("booking_points.csv")).unwrap(),
        std::fs::read_to_string(from_files.join("booking_points.csv")).unwrap()
    );
    let weighted = tmp.path().join("weighted");
    ok(passeur(&data, &["diversity", "score", "--rules", "weighted", "--out", weighted.to_str().unwrap()]));
    // A rules file with an unknown category is refused, naming it.
    std::fs::write(tmp.path().join("bad.toml"), "name = \"x\"\nfirst_booking = \"criteria\"\n[points]\ncategory = 1\nsubcategory = 1\nformat = 1\n[venue]\ndefault = 1\n[[extra.criteria]]\nkind = \"music_genre\"\npoints = 1\ncategories = [\"MUSIQUE\"]\n").unwrap();
    let bad = passeur(
        &data,
        &[
            "diversity",
            "score",
            "--rules",
            tmp.path().join("bad.toml").to_str().unwrap(),
            "--out",
            weighted.to_str().unwrap(),
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown category \"MUSIQUE\""));
}

#[test]
fn the_simulator_prints_the_error_table_and_the_bandit_comparison() {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("study.json");
    let out = ok(passeur(
        tmp.path(),
        &[
            "simulate",
            "ope",
            "--scale",
            "small",
            "--users",
            "300",
            "--rounds",
            "800",
            "--seeds",
            "2",
            "--json",
            json.to_str().unwrap(),
        ],
    ));
    for needle in
        ["| target | estimator | truth |", "independent IPS", "RIPS", "pseudo-inverse", "DR-OS", "λ=0 τ=0.1", "ESS"]
    {
        assert!(out.contains(needle), "{needle} missing:\n{out}");
    }
    let study: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = study["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6 * 13, "6 targets × 13 estimators");
    assert!(rows.iter().all(|r| r["truth"].as_f64().unwrap() > 0.0 && r["lists_for_1pct"].as_f64().unwrap() > 0.0));
    let out =
        ok(passeur(tmp.path(), &["simulate", "bandit", "--scale", "small", "--users", "300", "--rounds", "1000"]));
    assert!(out.contains("ranker alone") && out.contains("LinUCB"), "{out}");
    let bad = passeur(tmp.path(), &["simulate", "bandit", "--scale", "small", "--slot", "7"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("slot"));
}

/// A GET over a raw TCP connection: (status, body).
fn get(url: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut s = std::net::TcpStream::connect(host).expect("the demo listens");
    write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, out.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_owned()))
}

/// The demo serves at once without texts, then embeds the offers' texts with the default model —
/// multilingual-e5-small — retrains, and hot-reloads: `/ready` then names that model, for the
/// trained retrieval and for the encoder that embeds new offers.
#[test]
fn the_demo_serves_with_the_multilingual_text_model() {
    use std::io::BufRead;
    let root =
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR when it runs tests"))
            .join("../..");
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_passeur"))
        .current_dir(&root)
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .args(["demo", "--scale", "small", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the demo starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut base = None;
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1200);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let _ = child.kill();
            panic!("the demo did not swap in the text models in time:\n{}", seen.join("\n"));
        };
        if let Some(address) = line.split("passeur is serving on http://").nth(1) {
            base = Some(format!("http://{}", address.split_whitespace().next().unwrap()));
        }
        let done = line.contains("[background] now serving retrieval");
        let failed = line.contains("failed");
        seen.push(line);
        if done || failed {
            assert!(done, "{}", seen.join("\n"));
            break;
        }
    }
    let (status, body) = get(&format!("{}/ready", base.expect("the demo printed its address")));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    let text_model = ready["text_model"].as_str().unwrap_or_default();
    assert!(text_model.starts_with("multilingual-e5-small@"), "{ready}");
    assert_eq!(ready["text_encoder"].as_str(), Some(text_model), "{ready}");
}
