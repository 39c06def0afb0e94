//! Closed-loop journeys end to end: the small world imported and both models trained by the binary,
//! then the study run through the library over the same engine `passeur serve` loads.

use passeur_journeys::{Behaviour, League, PolicySpec, RunOutcome, Study, StudyConfig, load_engine, summarise};
use passeur_ranking::{Mixing, Order};
use passeur_synth::{Scale, World, WorldConfig};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const WORLD_SEED: u64 = 5;

fn passeur(data_dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_passeur"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "passeur {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A data directory with the small world (seed 5) imported and both models trained, made once.
fn data() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Directories of earlier runs whose process is gone are removed (a template outlives its tests).
        let prefix = "passeur-journeys-";
        for entry in std::fs::read_dir(std::env::temp_dir()).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix(prefix)
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = std::env::temp_dir().join(format!("{prefix}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let world = dir.join("world");
        let data = dir.join("data");
        let seed = WORLD_SEED.to_string();
        passeur(&data, &["generate", "--scale", "small", "--seed", &seed, "--out", world.to_str().unwrap()]);
        passeur(&data, &["import", world.to_str().unwrap()]);
        passeur(&data, &["train", "retrieval", "--text-model", "none", "--epochs", "2"]);
        passeur(&data, &["train", "ranking", "--max-examples", "10000", "--valid-days", "60"]);
        data
    })
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| World::generate(WorldConfig::for_scale(Scale::Small, WORLD_SEED)))
}

fn config() -> passeur_server::ServerConfig {
    passeur_server::ServerConfig { text_model_dir: String::new(), ..passeur_server::ServerConfig::default() }
}

fn policy(name: &str) -> PolicySpec {
    League::default_league().policies.into_iter().find(|p| p.name == name).expect(name)
}

fn without_timing(mut r: RunOutcome) -> RunOutcome {
    r.seconds = 0.0;
    r.user_weeks_per_s = 0.0;
    r
}

#[test]
fn the_same_seed_gives_the_same_study_and_another_seed_another() {
    let mut engine = load_engine(data(), &config()).unwrap();
    let mut study = Study::new(&mut engine, world(), StudyConfig { weeks: 4, ..StudyConfig::default() }).unwrap();
    let b = Behaviour::default();
    for name in ["lambda-0", "random", "exploring", "lambda-1+dpp"] {
        let p = policy(name);
        let first = without_timing(study.run(&p, &b, 3).unwrap());
        let again = without_timing(study.run(&p, &b, 3).unwrap());
        assert_eq!(first, again, "{name}");
        assert!(first.violations.is_empty(), "{name}: {:?}", first.violations);
        assert!(first.metrics.bookings > 0.0, "{name} books nothing");
        let other = without_timing(study.run(&p, &b, 4).unwrap());
        assert_ne!(first.metrics, other.metrics, "{name}: the seed changes nothing");
    }
}

#[test]
fn random_lists_book_less_than_the_ranker() {
    let mut engine = load_engine(data(), &config()).unwrap();
    let mut study = Study::new(&mut engine, world(), StudyConfig { weeks: 8, ..StudyConfig::default() }).unwrap();
    let b = Behaviour::default();
    let mut runs = Vec::new();
    for name in ["lambda-0", "random"] {
        for seed in 1..=3 {
            runs.push(study.run(&policy(name), &b, seed).unwrap());
        }
    }
    let s = summarise(&runs, "lambda-0");
    let random = s.iter().find(|x| x.policy == "random").unwrap();
    let ranker = s.iter().find(|x| x.policy == "lambda-0").unwrap();
    let (r, k) = (random.get("bookings").unwrap(), ranker.get("bookings").unwrap());
    assert!(r.mean + r.half_width < k.mean - k.half_width, "random {r:?} vs ranker {k:?}");
}

#[test]
fn with_no_drift_openness_or_genre_bonus_no_policy_books_more_than_lambda_0_beyond_its_interval() {
    let mut engine = load_engine(data(), &config()).unwrap();
    let mut study = Study::new(&mut engine, world(), StudyConfig { weeks: 8, ..StudyConfig::default() }).unwrap();
    let b = Behaviour {
        name: "no-lunch".into(),
        drift: 0.0,
        openness_scale: 0.0,
        genre_bonus: 0.0,
        ..Behaviour::default()
    };
    let names = ["lambda-0", "lambda-1", "lambda-4", "lambda-1+dpp", "lambda-1+discover", "lambda-1+round-robin"];
    let mut runs = Vec::new();
    for name in names {
        for seed in 1..=3 {
            runs.push(study.run(&policy(name), &b, seed).unwrap());
        }
    }
    let s = summarise(&runs, "lambda-0");
    let base = s.iter().find(|x| x.policy == "lambda-0").unwrap().get("bookings").unwrap();
    for x in &s {
        let e = x.get("bookings").unwrap();
        assert!(
            e.mean <= base.mean + e.half_width.max(base.half_width),
            "{} books {:?} against λ = 0's {base:?} with no diversification to gain",
            x.policy,
            e
        );
    }
}

#[test]
fn credit_and_stock_are_never_exceeded_even_when_young_people_book_all_they_can() {
    let mut engine = load_engine(data(), &config()).unwrap();
    let mut study = Study::new(&mut engine, world(), StudyConfig { weeks: 6, ..StudyConfig::default() }).unwrap();
    // Thirty times the sessions and eager bookers: credit runs out and seats sell out.
    let b = Behaviour { sessions_scale: 30.0, book_offset: 4.0, consult_offset: 2.0, ..Behaviour::default() };
    let r = study.run(&policy("tops"), &b, 1).unwrap();
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert!(r.metrics.credit_spent > 0.5, "the credit did not run low: {}", r.metrics.credit_spent);
    let live = study.engine().read();
    let sold_out = live.offers.iter().filter(|o| o.stock == Some(0)).count();
    let start = passeur_store::SqliteStore::open(data()).unwrap();
    let mut before = 0;
    passeur_store::RecordStore::scan_offers(&start, &mut |o| {
        before += usize::from(o.stock == Some(0));
        Ok(())
    })
    .unwrap();
    assert!(sold_out > before, "no offer sold out during the run ({sold_out} sold out, {before} before)");
    for u in live.users.values() {
        assert!(u.record.credit_cents >= 0, "{} has {} cents", u.record.id, u.record.credit_cents);
    }
}

#[test]
fn a_policy_is_the_services_own_setting() {
    let mut engine = load_engine(data(), &config()).unwrap();
    let mut study = Study::new(&mut engine, world(), StudyConfig { weeks: 1, ..StudyConfig::default() }).unwrap();
    let user = world().users[0].id.clone();
    let p = PolicySpec { order: Some(Order::Random), mixing: Some(Mixing::None), ..PolicySpec::service("random") };
    study.install(&p, 1).unwrap();
    let a = study.list_for(&user, 0, 0, 1, 12).unwrap();
    let b = study.list_for(&user, 0, 0, 2, 12).unwrap();
    assert_ne!(a, b, "a random order ignores its seed");
    let bad = PolicySpec { mixing: Some(Mixing::Dpp { theta: 1.0 }), ..PolicySpec::service("bad") };
    let e = study.install(&bad, 1).unwrap_err().to_string();
    assert!(e.contains("mixing.theta"), "{e}");
}

/// The simulator's list for a user is what `passeur serve` answers for the same state: the served list
/// of `GET /v1/users/{id}/recommendations`, with the service's clock frozen at the store's last event.
#[tokio::test]
async fn the_simulators_list_is_what_passeur_serve_returns() {
    let data = data();
    let copy = tempfile::tempdir().unwrap();
    copy_dir(data, copy.path());
    let seed = WORLD_SEED.to_string();
    let key = passeur(copy.path(), &["keys", "create", "--scope", "app", "--label", "journeys"]).trim().to_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_passeur"))
        .arg("--data-dir")
        .arg(copy.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("PASSEUR_CLOCK", "frozen")
        .env("PASSEUR_TEXT_MODEL_DIR", "")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let address = line.split("http://").nth(1).and_then(|r| r.split_whitespace().next()).expect(&line).to_owned();
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http.get(format!("http://{address}/ready")).send().await.map(|r| r.status().as_u16()).ok() != Some(200) {
        assert!(started.elapsed() < Duration::from_secs(60), "the server did not get ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut compared = 0;
    for user in world().users.iter().take(8) {
        let body: serde_json::Value = http
            .get(format!("http://{address}/v1/users/{}/recommendations?limit=12", user.id))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let served: Vec<String> =
            body["items"].as_array().unwrap().iter().map(|i| i["offer_id"].as_str().unwrap().to_owned()).collect();
        let simulated = passeur(
            copy.path(),
            &[
                "simulate",
                "journeys",
                "--world-scale",
                "small",
                "--world-seed",
                &seed,
                "--list-for",
                &user.id,
                "--limit",
                "12",
            ],
        );
        let simulated: Vec<String> = serde_json::from_str(simulated.trim()).unwrap();
        assert_eq!(served, simulated, "user {}", user.id);
        compared += usize::from(!served.is_empty());
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(compared >= 6, "only {compared} users got a list");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
