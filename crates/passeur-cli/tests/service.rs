//! The service end to end: the real `passeur serve` process on a loopback
//! port, over a data directory with the small world and models trained by the
//! binary itself.

use passeur_store::{RecordStore, SqliteStore};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

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

/// A data directory with the small world imported and both models trained, made once.
fn template() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Templates of earlier runs whose process is gone are removed (a template outlives its tests).
        let prefix = "passeur-service-template-";
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
        passeur(&data, &["generate", "--scale", "small", "--seed", "5", "--out", world.to_str().unwrap()]);
        passeur(&data, &["import", world.to_str().unwrap()]);
        passeur(&data, &["train", "retrieval", "--text-model", "none", "--epochs", "2"]);
        passeur(&data, &["train", "ranking", "--max-examples", "10000", "--valid-days", "60"]);
        data
    })
}

/// A fresh copy of the template.
fn data_dir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(template(), tmp.path());
    tmp
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

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(data: &Path) -> Server {
        Server::start_with(data, &[])
    }

    fn start_with(data: &Path, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_passeur"))
            .arg("--data-dir")
            .arg(data)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("PASSEUR_CLOCK", "store")
            .env("PASSEUR_TEXT_MODEL_DIR", "")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let address = line.split("http://").nth(1).and_then(|r| r.split_whitespace().next()).expect(&line).to_owned();
        let server = Server { child, base: format!("http://{address}") };
        let started = Instant::now();
        loop {
            if let Ok(r) = reqwest_blocking_get(&format!("{}/ready", server.base))
                && r == 200
            {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "the server did not get ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A status code over a raw TCP GET (no runtime needed while waiting for readiness).
fn reqwest_blocking_get(url: &str) -> std::io::Result<u16> {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut s = std::net::TcpStream::connect(host)?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0))
}

/// The first `users` user ids and `offers` offer ids of a data directory, in the store's order.
fn some_ids(data: &Path, users: usize, offers: usize) -> (Vec<String>, Vec<String>) {
    let store = SqliteStore::open(data).unwrap();
    let (mut u, mut o) = (Vec::new(), Vec::new());
    store
        .scan_users(&mut |x| {
            u.push(x.id);
            Ok(())
        })
        .unwrap();
    store
        .scan_offers(&mut |x| {
            o.push(x.id);
            Ok(())
        })
        .unwrap();
    u.truncate(users);
    o.truncate(offers);
    (u, o)
}

fn admin_key(data: &Path) -> String {
    passeur(data, &["keys", "create", "--scope", "admin", "--label", "test"]).trim().to_owned()
}

struct Client {
    http: reqwest::Client,
}

impl Client {
    fn new() -> Client {
        Client { http: reqwest::Client::new() }
    }

    async fn call(&self, method: &str, url: &str, key: Option<&str>, body: Option<String>) -> (u16, Value) {
        let mut r = match method {
            "GET" => self.http.get(url),
            "POST" => self.http.post(url),
            "DELETE" => self.http.delete(url),
            "PUT" => self.http.put(url),
            other => panic!("{other}"),
        };
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        if let Some(b) = body {
            r = r.header("content-type", "application/json").body(b);
        }
        let resp = r.send().await.expect("the server answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn get(&self, url: &str, key: &str) -> (u16, Value) {
        self.call("GET", url, Some(key), None).await
    }

    async fn post(&self, url: &str, key: &str, body: &Value) -> (u16, Value) {
        self.call("POST", url, Some(key), Some(body.to_string())).await
    }
}

async fn new_key(c: &Client, s: &Server, admin: &str, scope: &str, partner: Option<&str>) -> String {
    let (status, body) =
        c.post(&s.url("/v1/admin/keys"), admin, &json!({ "scope": scope, "partner_id": partner, "label": "t" })).await;
    assert_eq!(status, 201, "{body}");
    body["key"].as_str().unwrap().to_owned()
}

fn venue(id: &str, partner: &str) -> Value {
    json!({ "id": id, "name": format!("Cinéma {id}"), "venue_type": "MOVIE", "latitude": 48.8566,
            "longitude": 2.3522, "city": "Paris", "department": "75", "partner_id": partner })
}

fn offer(id: &str, venue: &str, subcategory: &str, price: i64) -> Value {
    let mut o = json!({ "id": id, "item_id": format!("item-{id}"), "title": format!("Offre {id}"),
            "description": "Une offre écrite par le test.", "subcategory": subcategory,
            "price_cents": price, "venue_id": venue, "stock": 5 });
    if ["SEANCE_CINE", "CONCERT"].contains(&subcategory) {
        // Events need a start; the served clock is the small world's last event (end of 2023), running on.
        o["event_start"] = json!("2024-06-20T20:00:00Z");
    }
    o
}

fn user(id: &str, credit: i64) -> Value {
    json!({ "id": id, "birth_date": "2007-03-01", "department": "75", "home_latitude": 48.86,
            "home_longitude": 2.35, "credit_cents": credit })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_publishes_a_young_person_books_and_the_score_and_delta_div_follow() {
    let tmp = data_dir();
    let admin = admin_key(tmp.path());
    let s = Server::start(tmp.path());
    let c = Client::new();
    let partner = new_key(&c, &s, &admin, "partner", Some("P-test")).await;
    let app = new_key(&c, &s, &admin, "app", None).await;

    let (status, body) = c.post(&s.url("/v1/venues"), &partner, &venue("V-test", "P-test")).await;
    assert_eq!(status, 201, "{body}");
    for (id, sub, price) in
        [("O-film", "SEANCE_CINE", 800), ("O-film-2", "SEANCE_CINE", 900), ("O-concert", "CONCERT", 1500)]
    {
        let (status, body) = c.post(&s.url("/v1/offers"), &partner, &offer(id, "V-test", sub, price)).await;
        assert_eq!(status, 201, "{id}: {body}");
    }
    let (status, body) = c.post(&s.url("/v1/users"), &app, &user("U-test", 30_000)).await;
    assert_eq!(status, 201, "{body}");

    // A new offer is searchable at once: similar offers of the new film include the other new film.
    let (status, similar) = c.get(&s.url("/v1/offers/O-film/similar?limit=50"), &app).await;
    assert_eq!(status, 200, "{similar}");
    let ids: Vec<&str> = similar["items"].as_array().unwrap().iter().map(|i| i["offer_id"].as_str().unwrap()).collect();
    assert!(!ids.contains(&"O-film"), "the seed is excluded");

    let (status, before) = c.get(&s.url("/v1/offers/O-film-2?user_id=U-test"), &app).await;
    assert_eq!(status, 200, "{before}");
    let delta_before = before["delta_div"].as_u64().unwrap();
    assert!(delta_before >= 1, "a first booking scores: {before}");

    let consultation = json!({ "id": "E-1", "kind": "consultation", "user_id": "U-test", "offer_id": "O-concert" });
    let (status, ack) = c.post(&s.url("/v1/events"), &app, &consultation).await;
    assert_eq!((status, ack["recorded"].as_bool()), (201, Some(true)), "{ack}");
    let (status, ack) = c.post(&s.url("/v1/events"), &app, &consultation).await;
    assert_eq!((status, ack["recorded"].as_bool()), (200, Some(false)), "a retry changes nothing: {ack}");

    let (status, recos) = c.get(&s.url("/v1/users/U-test/recommendations?limit=20&explain=true"), &app).await;
    assert_eq!(status, 200, "{recos}");
    let items = recos["items"].as_array().unwrap();
    assert!(!items.is_empty());
    for i in items {
        let e = &i["explanation"];
        let (pc, pb, d) =
            (e["p_click"].as_f64().unwrap(), e["p_booking"].as_f64().unwrap(), i["delta_div"].as_f64().unwrap());
        // The service's booking floor chooses each list's λ; the explanation says which.
        let lambda = e["lambda"].as_f64().unwrap();
        assert!((0.0..=8.0).contains(&lambda), "{i}");
        let expected = pc + pb * (1.0 + lambda * d);
        assert!((i["score"].as_f64().unwrap() - expected).abs() < 1e-9, "score is the objective: {i}");
    }

    // Book the film: credit, score and Δdiv change at once.
    let (status, ack) = c
        .post(
            &s.url("/v1/events"),
            &app,
            &json!({ "id": "B-1", "kind": "booking", "user_id": "U-test", "offer_id": "O-film" }),
        )
        .await;
    assert_eq!(status, 201, "{ack}");
    assert_eq!(ack["credit_cents"], 30_000 - 800);
    let (_, u) = c.get(&s.url("/v1/users/U-test"), &app).await;
    assert_eq!((u["credit_cents"].as_i64(), u["bookings"].as_u64()), (Some(29_200), Some(1)), "{u}");
    let (status, div) = c.get(&s.url("/v1/users/U-test/diversification"), &app).await;
    assert_eq!(status, 200, "{div}");
    let bookings = div["bookings"].as_array().unwrap();
    assert_eq!(bookings.len(), 1);
    assert_eq!(bookings[0]["booking_id"], "B-1");
    assert_eq!(div["score"], bookings[0]["points"]);
    assert!(div["score"].as_u64().unwrap() >= 1);
    assert_eq!(u["diversification_score"], div["score"]);
    let (_, after) = c.get(&s.url("/v1/offers/O-film-2?user_id=U-test"), &app).await;
    assert!(
        after["delta_div"].as_u64().unwrap() < delta_before,
        "a second film of the same subcategory brings less: {before} then {after}"
    );
    let (_, stock) = c.get(&s.url("/v1/offers/O-film"), &app).await;
    assert_eq!(stock["stock"], 4);
    let (_, recos) = c.get(&s.url("/v1/users/U-test/recommendations?limit=60"), &app).await;
    assert!(
        recos["items"].as_array().unwrap().iter().all(|i| i["offer_id"] != "O-film"),
        "a booked offer is not recommended again"
    );

    // A booking over the credit is refused and changes nothing.
    let (status, err) = c
        .post(
            &s.url("/v1/events"),
            &app,
            &json!({ "kind": "booking", "user_id": "U-test", "offer_id": "O-concert", "amount_cents": 50_000 }),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str(), err["error"]["field"].as_str()),
        (409, Some("insufficient_credit"), Some("amount_cents")),
        "{err}"
    );
    let (_, u) = c.get(&s.url("/v1/users/U-test"), &app).await;
    assert_eq!(u["credit_cents"], 29_200);

    // The cancellation refunds and takes the points back.
    let (status, ack) = c
        .post(
            &s.url("/v1/events"),
            &app,
            &json!({ "kind": "cancellation", "user_id": "U-test", "offer_id": "O-film", "booking_id": "B-1" }),
        )
        .await;
    assert_eq!((status, ack["credit_cents"].as_i64()), (201, Some(30_000)), "{ack}");
    let (_, div) = c.get(&s.url("/v1/users/U-test/diversification"), &app).await;
    assert_eq!((div["score"].as_u64(), div["bookings"][0]["cancelled"].as_bool()), (Some(0), Some(true)), "{div}");

    // Every served list was logged as impressions, with its call id, positions and model versions.
    let call = recos["call_id"].as_str().unwrap().to_owned();
    let n = recos["items"].as_array().unwrap().len();
    let logged = wait_for_impressions(tmp.path(), "U-test", &call, n);
    assert_eq!(logged.len(), n);
    for (p, (position, version, propensity)) in logged.iter().enumerate() {
        assert_eq!(*position as usize, p);
        assert!(version.contains(recos["model_version"].as_str().unwrap()), "{version}");
        assert_eq!(*propensity, 1.0);
    }
}

fn wait_for_impressions(data: &Path, user: &str, call: &str, n: usize) -> Vec<(u32, String, f64)> {
    wait_for_impression_rows(data, user, call, n).into_iter().map(|(p, v, w, _)| (p, v, w)).collect()
}

/// Position, model version, propensity and prefix propensity of a list's impressions.
fn wait_for_impression_rows(data: &Path, user: &str, call: &str, n: usize) -> Vec<(u32, String, f64, Option<f64>)> {
    let started = Instant::now();
    loop {
        let store = SqliteStore::open(data).unwrap();
        let mut rows: Vec<(u32, String, f64, Option<f64>)> = store
            .user_interactions(user)
            .unwrap()
            .into_iter()
            .filter_map(|i| match i.kind {
                passeur_domain::InteractionKind::Impression {
                    call_id,
                    position,
                    model_version,
                    propensity,
                    prefix_propensity,
                } if call_id == call => Some((position, model_version, propensity, prefix_propensity)),
                _ => None,
            })
            .collect();
        rows.sort_by_key(|r| r.0);
        if rows.len() >= n || started.elapsed() > Duration::from_secs(10) {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_are_enforced() {
    let tmp = data_dir();
    let admin = admin_key(tmp.path());
    let s = Server::start(tmp.path());
    let c = Client::new();
    let app = new_key(&c, &s, &admin, "app", None).await;
    let partner = new_key(&c, &s, &admin, "partner", Some("P-a")).await;
    let other = new_key(&c, &s, &admin, "partner", Some("P-b")).await;
    let some_user = some_ids(tmp.path(), 1, 0).0.remove(0);
    let reco = s.url(&format!("/v1/users/{some_user}/recommendations"));
    let (status, body) = c.call("GET", &reco, None, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("missing_key")));
    let (status, body) = c.get(&reco, "psr_not-a-key").await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("invalid_key")));
    assert_eq!(c.get(&reco, &app).await.0, 200);
    assert_eq!(c.get(&reco, &admin).await.0, 200);
    assert_eq!(c.get(&reco, &partner).await.0, 403, "partners do not read young people's lists");

    assert_eq!(c.post(&s.url("/v1/venues"), &app, &venue("V-a", "P-a")).await.0, 403, "the app does not publish");
    assert_eq!(c.post(&s.url("/v1/venues"), &other, &venue("V-a", "P-a")).await.0, 403, "not for another partner");
    assert_eq!(c.post(&s.url("/v1/venues"), &partner, &venue("V-a", "P-a")).await.0, 201);
    assert_eq!(c.post(&s.url("/v1/venues"), &other, &venue("V-b", "P-b")).await.0, 201);
    assert_eq!(c.post(&s.url("/v1/offers"), &other, &offer("O-x", "V-a", "LIVRE_PAPIER", 1000)).await.0, 403);
    assert_eq!(c.post(&s.url("/v1/offers"), &partner, &offer("O-x", "V-a", "LIVRE_PAPIER", 1000)).await.0, 201);
    assert_eq!(
        c.post(&s.url("/v1/offers"), &other, &offer("O-x", "V-b", "LIVRE_PAPIER", 1000)).await.0,
        403,
        "another partner's offer cannot be moved to one's own venue"
    );
    assert_eq!(c.post(&s.url("/v1/users"), &partner, &user("U-x", 100)).await.0, 403);
    assert_eq!(c.post(&s.url("/v1/admin/keys"), &app, &json!({ "scope": "admin" })).await.0, 403);
    assert_eq!(c.post(&s.url("/v1/admin/reload"), &partner, &json!({})).await.0, 403);

    // Revoked keys stop working at once; the store holds digests, never keys.
    let (_, created) = c.post(&s.url("/v1/admin/keys"), &admin, &json!({ "scope": "app" })).await;
    let (key, id) = (created["key"].as_str().unwrap(), created["id"].as_str().unwrap());
    assert_eq!(c.get(&reco, key).await.0, 200);
    assert_eq!(c.call("DELETE", &s.url(&format!("/v1/admin/keys/{id}")), Some(&admin), None).await.0, 200);
    assert_eq!(c.get(&reco, key).await.0, 401);
    let db = std::fs::read(tmp.path().join(SqliteStore::FILE_NAME)).unwrap();
    let wal = std::fs::read(tmp.path().join(format!("{}-wal", SqliteStore::FILE_NAME))).unwrap_or_default();
    for secret in [key, &app, &partner, &admin] {
        let needle = secret.as_bytes();
        assert!(!db.windows(needle.len()).any(|w| w == needle), "a key is stored in clear");
        assert!(!wal.windows(needle.len()).any(|w| w == needle), "a key is in the journal in clear");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_a_4xx_that_names_the_field_and_change_nothing() {
    let tmp = data_dir();
    let admin = admin_key(tmp.path());
    let s = Server::start(tmp.path());
    let c = Client::new();
    let app = new_key(&c, &s, &admin, "app", None).await;
    assert_eq!(c.post(&s.url("/v1/venues"), &admin, &venue("V-e", "P-e")).await.0, 201);
    assert_eq!(c.post(&s.url("/v1/offers"), &admin, &offer("O-e", "V-e", "LIVRE_PAPIER", 1000)).await.0, 201);
    assert_eq!(c.post(&s.url("/v1/users"), &app, &user("U-e", 5_000)).await.0, 201);

    let offers_url = s.url("/v1/offers");
    let raw = |body: &str| c.call("POST", &offers_url, Some(&admin), Some(body.to_owned()));
    type Case<'a> = ((u16, Value), u16, &'a str, Option<&'a str>);
    let cases: Vec<Case<'_>> = vec![
        (raw("{\"id\": \"O-1\",").await, 400, "malformed_json", None),
        (raw("[1, 2]").await, 422, "invalid_field", Some("[0]")),
        (c.post(&s.url("/v1/offers"), &admin, &json!({ "id": "O-1", "item_id": "i", "title": "t", "subcategory": "LIVRE_PAPIER", "price_cents": "douze", "venue_id": "V-e" })).await, 422, "invalid_field", Some("price_cents")),
        (c.post(&s.url("/v1/offers"), &admin, &json!({ "item_id": "i", "title": "t", "subcategory": "LIVRE_PAPIER", "price_cents": 1 })).await, 422, "invalid_field", Some("id")),
        (c.post(&s.url("/v1/offers"), &admin, &json!({ "id": "O-1", "item_id": "i", "title": "t", "subcategory": "LIVRE_PAPIER", "price_cents": 1, "colour": "red" })).await, 422, "invalid_field", Some("colour")),
        (c.post(&s.url("/v1/offers"), &admin, &json!({ "id": "O-1", "item_id": "i", "title": "t", "subcategory": "NOT_A_SUBCATEGORY", "price_cents": 1 })).await, 422, "invalid_field", Some("subcategory")),
        (c.post(&s.url("/v1/offers"), &admin, &json!({ "id": "O-1", "item_id": "i", "title": "t", "subcategory": "LIVRE_PAPIER", "price_cents": -5, "venue_id": "V-e" })).await, 422, "invalid_field", Some("price_cents")),
        (c.post(&s.url("/v1/offers"), &admin, &json!({ "id": "O-1", "item_id": "i", "title": "t", "subcategory": "LIVRE_PAPIER", "price_cents": 5, "venue_id": "V-nowhere" })).await, 422, "unknown_reference", Some("venue_id")),
        (c.post(&s.url("/v1/offers"), &admin, &json!({ "id": "O-1", "item_id": "i", "title": "t", "subcategory": "LIVRE_PAPIER", "price_cents": 5, "venue_id": "V-e", "image_embedding": [0.1, 0.2] })).await, 422, "invalid_field", Some("image_embedding")),
        (c.post(&s.url("/v1/users"), &app, &json!({ "id": "U-1", "birth_date": "2007-02-30", "department": "75", "credit_cents": 1 })).await, 422, "invalid_field", Some("birth_date")),
        (c.post(&s.url("/v1/events"), &app, &json!({ "kind": "consultation", "user_id": "U-e", "offer_id": "O-nowhere" })).await, 422, "unknown_reference", Some("offer_id")),
        (c.post(&s.url("/v1/events"), &app, &json!({ "kind": "consultation", "user_id": "U-nobody", "offer_id": "O-e" })).await, 422, "unknown_reference", Some("user_id")),
        (c.post(&s.url("/v1/events"), &app, &json!({ "kind": "purchase", "user_id": "U-e", "offer_id": "O-e" })).await, 422, "invalid_field", Some("kind")),
        (c.post(&s.url("/v1/events"), &app, &json!({ "kind": "booking", "user_id": "U-e", "offer_id": "O-e", "at": "yesterday" })).await, 422, "invalid_field", Some("at")),
        (c.post(&s.url("/v1/events"), &app, &json!({ "kind": "booking", "user_id": "U-e", "offer_id": "O-e", "amount_cents": 9_000 })).await, 409, "insufficient_credit", Some("amount_cents")),
        (c.post(&s.url("/v1/events"), &app, &json!({ "kind": "cancellation", "user_id": "U-e", "offer_id": "O-e", "booking_id": "B-none" })).await, 422, "unknown_reference", Some("booking_id")),
        (c.post(&s.url("/v1/events/batch"), &app, &json!({ "events": [
            { "id": "E-ok", "kind": "consultation", "user_id": "U-e", "offer_id": "O-e" },
            { "id": "E-bad", "kind": "consultation", "user_id": "U-e", "offer_id": "O-nowhere" } ] })).await, 422, "unknown_reference", Some("events[1].offer_id")),
        (c.post(&s.url("/v1/events/batch"), &app, &json!({ "events": [
            { "kind": "consultation", "user_id": "U-e", "offer_id": "O-e" }, { "kind": 3 } ] })).await, 422, "invalid_field", Some("events[1].kind")),
        (c.get(&s.url("/v1/users/U-nobody/recommendations"), &app).await, 404, "unknown_id", Some("user_id")),
        (c.get(&s.url("/v1/users/U-e/recommendations?limit=0"), &app).await, 400, "invalid_parameter", Some("limit")),
        (c.get(&s.url("/v1/users/U-e/recommendations?limit=ten"), &app).await, 400, "invalid_parameter", Some("limit")),
        (c.get(&s.url("/v1/users/U-e/recommendations?lat=91&lon=2"), &app).await, 400, "invalid_parameter", Some("lat")),
        (c.get(&s.url("/v1/users/U-e/recommendations?category=NOPE"), &app).await, 400, "invalid_parameter", Some("category")),
        (c.get(&s.url("/v1/users/U-e/recommendations?colour=red"), &app).await, 400, "invalid_parameter", Some("colour")),
        (c.get(&s.url("/v1/users/U-e/recommendations?playlist=nope"), &app).await, 400, "invalid_parameter", Some("playlist")),
        (c.get(&s.url("/v1/offers/O-nowhere"), &app).await, 404, "unknown_id", Some("offer_id")),
        (c.get(&s.url("/v1/events/E-nowhere"), &app).await, 404, "unknown_id", Some("event_id")),
        (c.get(&s.url("/v1/nowhere"), &app).await, 404, "no_route", None),
        (c.call("DELETE", &s.url("/v1/events"), Some(&app), None).await, 405, "method_not_allowed", None),
        // Its own client: the server closes a connection whose body it refused midway.
        (Client::new().post(&s.url("/v1/events"), &app, &json!({ "kind": "consultation", "user_id": "U-e", "offer_id": "O-e", "note": "x".repeat(2 << 20) })).await, 413, "body_too_large", None),
    ];
    for (i, ((status, body), want_status, want_code, want_field)) in cases.iter().enumerate() {
        assert_eq!(*status, *want_status, "case {i}: {body}");
        assert_eq!(body["error"]["code"].as_str(), Some(*want_code), "case {i}: {body}");
        assert_eq!(body["error"]["field"].as_str(), *want_field, "case {i}: {body}");
        assert!(!body["error"]["message"].as_str().unwrap_or("").is_empty(), "case {i}: {body}");
    }
    // Nothing of the refused writes landed: the batch's valid first event included.
    let store = SqliteStore::open(tmp.path()).unwrap();
    assert!(store.interaction("E-ok").unwrap().is_none(), "a refused batch writes nothing");
    assert!(store.offer("O-1").unwrap().is_none());
    assert_eq!(store.user("U-e").unwrap().unwrap().credit_cents, 5_000);
    let (_, u) = c.get(&s.url("/v1/users/U-e"), &app).await;
    assert_eq!((u["credit_cents"].as_i64(), u["consultations"].as_u64()), (Some(5_000), Some(0)), "{u}");
    // And the server is still well.
    assert_eq!(c.get(&s.url("/v1/users/U-e/recommendations"), &app).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_the_routes_and_metrics_count_them() {
    let tmp = data_dir();
    let admin = admin_key(tmp.path());
    let s = Server::start(tmp.path());
    let c = Client::new();
    assert_eq!(c.post(&s.url("/v1/venues"), &admin, &venue("V-d", "P-d")).await.0, 201);
    assert_eq!(c.post(&s.url("/v1/offers"), &admin, &offer("O-d", "V-d", "SEANCE_CINE", 700)).await.0, 201);
    assert_eq!(c.post(&s.url("/v1/users"), &admin, &user("U-d", 10_000)).await.0, 201);
    let (_, key) = c.post(&s.url("/v1/admin/keys"), &admin, &json!({ "scope": "app" })).await;
    let (status, doc) = c.call("GET", &s.url("/openapi.json"), None, None).await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(
        paths.len(),
        passeur_server::openapi::ROUTES.iter().map(|r| r.path).collect::<std::collections::BTreeSet<_>>().len()
    );
    let bodies: Value = json!({
        "/v1/venues": venue("V-d2", "P-d"),
        "/v1/offers": offer("O-d2", "V-d", "CONCERT", 1200),
        "/v1/users": user("U-d2", 100),
        "/v1/events": { "kind": "consultation", "user_id": "U-d", "offer_id": "O-d" },
        "/v1/events/batch": { "events": [ { "kind": "favourite", "user_id": "U-d", "offer_id": "O-d" } ] },
        "/v1/admin/keys": { "scope": "app" },
        "/v1/admin/reload": {},
    });
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            let url = s.url(
                &path
                    .replace("{user_id}", "U-d")
                    .replace("{offer_id}", "O-d")
                    .replace("{venue_id}", "V-d")
                    .replace("{event_id}", "E-none")
                    .replace("{key_id}", key["id"].as_str().unwrap()),
            );
            let url = if path == "/v1/territory" { format!("{url}?partner_id=P-d") } else { url };
            let body = (method == "post").then(|| bodies[path.as_str()].to_string());
            let (status, answer) = c.call(&method.to_uppercase(), &url, Some(&admin), body).await;
            assert_ne!(answer["error"]["code"], "no_route", "{method} {path} is documented but not served");
            assert_ne!(status, 405, "{method} {path}");
            let (documented, schema) = op["responses"]
                .as_object()
                .unwrap()
                .iter()
                .find(|(code, _)| code.starts_with('2'))
                .map(|(code, r)| {
                    (code.parse::<u16>().unwrap(), r["content"]["application/json"]["schema"]["$ref"].clone())
                })
                .unwrap();
            if path == "/v1/events/{event_id}" {
                assert_eq!(status, 404, "an unknown event");
                continue;
            }
            assert!(status == documented || (status == 200 && documented == 201), "{method} {path}: {status} {answer}");
            let name = schema.as_str().unwrap().rsplit('/').next().unwrap();
            let schema = &doc["components"]["schemas"][name];
            for field in schema["required"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                let f = field.as_str().unwrap();
                assert!(answer.get(f).is_some(), "{method} {path}: the answer lacks {f}: {answer}");
            }
        }
    }
    let (_, metrics) = c.call("GET", &s.url("/metrics"), None, None).await;
    let text = metrics.as_str().unwrap();
    assert!(
        text.contains(
            "passeur_http_requests_total{method=\"GET\",route=\"/v1/users/{user_id}/recommendations\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("passeur_http_request_duration_seconds_bucket"), "{text}");
    assert!(text.contains("passeur_model_info{kind=\"ranking\""), "{text}");
    assert!(text.contains("passeur_live_offers 2002"), "{text}");
}

/// Streams events from several clients until the server is killed; answers the acknowledged ids.
async fn stream_events(base: String, key: String, users: Vec<String>, offers: Vec<String>) -> Vec<String> {
    let c = reqwest::Client::new();
    let mut acked = Vec::new();
    let mut tasks = Vec::new();
    for t in 0..4 {
        let (c, base, key, users, offers) = (c.clone(), base.clone(), key.clone(), users.clone(), offers.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for i in 0.. {
                let id = format!("K-{t}-{i}");
                let body = json!({ "id": id, "kind": if i % 5 == 0 { "favourite" } else { "consultation" },
                    "user_id": users[(i * 7 + t) % users.len()], "offer_id": offers[(i * 13 + t) % offers.len()] });
                let sent = c
                    .post(format!("{base}/v1/events"))
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => mine.push(id),
                    Ok(r) => panic!("refused: {}", r.text().await.unwrap_or_default()),
                    Err(_) => break,
                }
            }
            mine
        }));
    }
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_survives_a_sigkill_and_the_restart_has_the_same_state() {
    let tmp = data_dir();
    let admin = admin_key(tmp.path());
    let (users, offers) = some_ids(tmp.path(), 50, 200);
    let mut s = Server::start(tmp.path());
    let streaming = tokio::spawn(stream_events(s.base.clone(), admin.clone(), users.clone(), offers));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.child.kill().unwrap(); // SIGKILL: no shutdown hook runs.
    s.child.wait().unwrap();
    let acked = streaming.await.unwrap();
    assert!(acked.len() > 20, "only {} events were acknowledged before the kill", acked.len());

    let store = SqliteStore::open(tmp.path()).unwrap();
    let missing: Vec<&String> = acked.iter().filter(|id| store.interaction(id).unwrap().is_none()).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events lost: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    drop(store);

    // The restarted server has the same state: every acknowledged event counted in its users' activity.
    let s = Server::start(tmp.path());
    let c = Client::new();
    for id in acked.iter().step_by(7) {
        let (status, e) = c.get(&s.url(&format!("/v1/events/{id}")), &admin).await;
        assert_eq!(status, 200, "{id}: {e}");
    }
    let store = SqliteStore::open(tmp.path()).unwrap();
    for u in users.iter().take(10) {
        let stored = store.user_interactions(u).unwrap();
        let consultations =
            stored.iter().filter(|i| matches!(i.kind, passeur_domain::InteractionKind::Consultation)).count();
        let (_, live) = c.get(&s.url(&format!("/v1/users/{u}")), &admin).await;
        assert_eq!(live["consultations"].as_u64(), Some(consultations as u64), "{u}: {live}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_reload_while_serving_and_no_write_is_lost() {
    let tmp = data_dir();
    let admin = admin_key(tmp.path());
    let (user_ids, mut offer_ids) = some_ids(tmp.path(), 3, 1);
    let s = Server::start(tmp.path());
    let c = Client::new();
    let before: Vec<u64> = {
        let mut v = Vec::new();
        for u in &user_ids {
            v.push(c.get(&s.url(&format!("/v1/users/{u}")), &admin).await.1["consultations"].as_u64().unwrap());
        }
        v
    };
    let first_offer = offer_ids.remove(0);
    // Records written through the API after training: the reload aligns them after the model's own.
    assert_eq!(c.post(&s.url("/v1/venues"), &admin, &venue("V-r", "P-r")).await.0, 201);
    assert_eq!(c.post(&s.url("/v1/offers"), &admin, &offer("A-new", "V-r", "LIVRE_PAPIER", 1000)).await.0, 201);
    assert_eq!(c.post(&s.url("/v1/users"), &admin, &user("0-new", 2_000)).await.0, 201);
    // Events stream while the reload runs.
    let writer = {
        let (base, key, users, offer) = (s.base.clone(), admin.clone(), user_ids.clone(), first_offer.clone());
        tokio::spawn(async move {
            let c = reqwest::Client::new();
            let mut sent = vec![0u64; users.len()];
            for i in 0..120 {
                let u = i % users.len();
                let r = c
                    .post(format!("{base}/v1/events"))
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(json!({ "kind": "consultation", "user_id": users[u], "offer_id": offer }).to_string())
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "{}", r.text().await.unwrap());
                sent[u] += 1;
            }
            sent
        })
    };
    let (status, reloaded) = c.post(&s.url("/v1/admin/reload"), &admin, &json!({})).await;
    assert_eq!(status, 200, "{reloaded}");
    let sent = writer.await.unwrap();
    for (i, u) in user_ids.iter().enumerate() {
        let (_, live) = c.get(&s.url(&format!("/v1/users/{u}")), &admin).await;
        assert_eq!(live["consultations"].as_u64(), Some(before[i] + sent[i]), "{u}: {live}");
    }
    let (status, ready) = c.call("GET", &s.url("/ready"), None, None).await;
    assert_eq!(status, 200);
    assert_eq!(ready["ranking_model"], reloaded["ranking_model"]);
    assert_eq!(ready["offers"], 2001, "{ready}");
    let (status, found) = c.get(&s.url("/v1/offers/A-new?user_id=0-new"), &admin).await;
    assert_eq!(status, 200, "{found}");
    let (status, list) = c.get(&s.url("/v1/users/0-new/recommendations"), &admin).await;
    assert_eq!(status, 200, "{list}");
    let (status, similar) = c.get(&s.url("/v1/offers/A-new/similar"), &admin).await;
    assert_eq!(status, 200, "{similar}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_server_cleanly_after_writing_the_queued_impressions() {
    let tmp = data_dir();
    let admin = admin_key(tmp.path());
    let mut s = Server::start(tmp.path());
    let c = Client::new();
    assert_eq!(c.post(&s.url("/v1/users"), &admin, &user("U-t", 10_000)).await.0, 201);
    let (status, list) = c.get(&s.url("/v1/users/U-t/recommendations?limit=7"), &admin).await;
    assert_eq!(status, 200, "{list}");
    let term = Command::new("kill").args(["-TERM", &s.child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    let n = list["items"].as_array().unwrap().len();
    let call = list["call_id"].as_str().unwrap();
    assert_eq!(wait_for_impressions(tmp.path(), "U-t", call, n).len(), n);
}

/// Serves `lists` recommendation lists of `limit` to the first users, consulting the offer at position
/// `clicked` of every third list; stops the server with SIGTERM (impressions and lists flushed).
async fn serve_and_click(data: &Path, env: &[(&str, &str)], lists: usize, limit: usize) -> Vec<Value> {
    let admin = admin_key(data);
    let mut s = Server::start_with(data, env);
    let c = Client::new();
    let (users, _) = some_ids(data, 40, 0);
    let mut served = Vec::new();
    for i in 0..lists {
        let user = &users[i % users.len()];
        let (status, list) = c.get(&s.url(&format!("/v1/users/{user}/recommendations?limit={limit}")), &admin).await;
        assert_eq!(status, 200, "{list}");
        let items = list["items"].as_array().unwrap();
        if i % 3 == 0 && !items.is_empty() {
            let offer = items[i % items.len()]["offer_id"].as_str().unwrap();
            let event = json!({ "kind": "consultation", "user_id": user, "offer_id": offer });
            assert_eq!(c.post(&s.url("/v1/events"), &admin, &event).await.0, 201);
        }
        served.push(list);
    }
    assert!(Command::new("kill").args(["-TERM", &s.child.id().to_string()]).status().unwrap().success());
    let started = Instant::now();
    while s.child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(20), "the server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    served
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exploring_lists_log_exact_propensities_and_passeur_ope_evaluates_them() {
    let tmp = data_dir();
    let exploration =
        "{temperature = 0.1, epsilon = 0.3, epsilon_positions = [1], shuffle_share = 0.1, candidates = 12, seed = 3}";
    let served = serve_and_click(tmp.path(), &[("PASSEUR_EXPLORATION", exploration)], 90, 4).await;
    let store = SqliteStore::open(tmp.path()).unwrap();
    let mut records = std::collections::HashMap::new();
    store
        .served_lists(0, &mut |r| {
            records.insert(r.call_id.clone(), r);
            Ok(())
        })
        .unwrap();
    assert_eq!(records.len(), served.len(), "every served list is recorded");
    let policy =
        passeur_ope::Exploration { temperature: 0.1, epsilon: 0.3, epsilon_positions: vec![1], shuffle_share: 0.1 };
    let mut orders = std::collections::HashSet::new();
    for list in &served {
        let call = list["call_id"].as_str().unwrap();
        assert!(list["policy"].as_str().unwrap().starts_with("plackett-luce"), "{}", list["policy"]);
        let record = &records[call];
        assert_eq!(list["seed"].as_u64().unwrap(), record.seed as u64);
        let body: Value = serde_json::from_str(&record.body).unwrap();
        let scores: Vec<f64> =
            body["candidates"].as_array().unwrap().iter().map(|c| c["score"].as_f64().unwrap()).collect();
        let order: Vec<usize> =
            body["order"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        // The logged seed and candidates reproduce the list and its probabilities exactly.
        let replay = policy.draw(&scores, order.len(), record.seed as u64);
        assert_eq!(replay.order, order, "{call}");
        let served_offers: Vec<&str> =
            list["items"].as_array().unwrap().iter().map(|i| i["offer_id"].as_str().unwrap()).collect();
        let drawn_offers: Vec<&str> =
            order.iter().map(|&c| body["candidates"][c]["offer_id"].as_str().unwrap()).collect();
        assert_eq!(served_offers, drawn_offers);
        let prefix: Vec<f64> = body["prefix"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(prefix, replay.prefix);
        // Each impression carries its conditional probability; their product is the list's probability.
        let user = list["user_id"].as_str().unwrap();
        let logged = wait_for_impression_rows(tmp.path(), user, call, order.len());
        assert_eq!(logged.len(), order.len());
        let mut product = 1.0;
        for (((_, _, propensity, logged_prefix), expected), prefix_j) in
            logged.iter().zip(&replay.conditional).zip(&prefix)
        {
            assert!(*propensity > 0.0 && *propensity < 1.0, "{propensity}");
            assert!((propensity - expected).abs() < 1e-12);
            product *= propensity;
            // Each impression also carries its list prefix's probability.
            assert_eq!(*logged_prefix, Some(*prefix_j));
            assert!((product - prefix_j).abs() <= 1e-12 * prefix_j);
        }
        assert!((product - prefix[prefix.len() - 1]).abs() < 1e-12 * product.max(1e-300) + 1e-15);
        orders.insert(order);
    }
    assert!(orders.len() > 10, "exploration varies the lists: {} distinct orders", orders.len());
    let out = passeur(
        tmp.path(),
        &[
            "ope",
            "--lambda",
            "0.5",
            "--temperature",
            "0.2",
            "--positions",
            "2",
            "--resamples",
            "30",
            "--window-s",
            "100000",
        ],
    );
    for needle in [
        "independent IPS",
        "RIPS",
        "pseudo-inverse",
        "DR (per position)",
        "empirical-Bernstein",
        "effective sample size",
    ] {
        assert!(out.contains(needle), "{needle} missing from:\n{out}");
    }
    assert!(out.contains(&format!("read {} served lists", served.len())), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_served_deterministically_have_propensity_one_and_passeur_ope_refuses_them() {
    let tmp = data_dir();
    let served = serve_and_click(tmp.path(), &[], 6, 3).await;
    assert!(served.iter().all(|l| l.get("seed").is_none() && l["policy"].as_str().unwrap().starts_with("objective")));
    let run = Command::new(env!("CARGO_BIN_EXE_passeur"))
        .arg("--data-dir")
        .arg(tmp.path())
        .args(["ope", "--temperature", "0.5", "--positions", "2", "--resamples", "20"])
        .output()
        .unwrap();
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("deterministic") && err.contains("propensity 1"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journey_agrees_with_the_score_and_discover_proposes_explained_entries_into_untried_categories() {
    let tmp = data_dir();
    let admin = admin_key(tmp.path());
    let s = Server::start(tmp.path());
    let c = Client::new();
    let (users, _) = some_ids(tmp.path(), 60, 0);
    let mut checked = 0;
    for user in &users {
        let (status, journey) = c.get(&s.url(&format!("/v1/users/{user}/journey")), &admin).await;
        assert_eq!(status, 200, "{journey}");
        let (_, div) = c.get(&s.url(&format!("/v1/users/{user}/diversification")), &admin).await;
        let m = &journey["metrics"];
        assert_eq!(m["score"], div["score"], "{user}");
        let booked: Vec<&Value> =
            div["bookings"].as_array().unwrap().iter().filter(|b| !b["cancelled"].as_bool().unwrap()).collect();
        assert_eq!(m["bookings"].as_u64().unwrap() as usize, booked.len());
        let mut categories: Vec<&str> = booked.iter().map(|b| b["category"].as_str().unwrap()).collect();
        categories.sort_unstable();
        categories.dedup();
        assert_eq!(m["categories_entered"].as_u64().unwrap() as usize, categories.len());
        let counted: u64 = journey["categories"].as_array().unwrap().iter().map(|c| c["count"].as_u64().unwrap()).sum();
        assert_eq!(counted as usize, booked.len());
        let untried: Vec<&str> = journey["untried"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert!(categories.iter().all(|c| !untried.contains(c)));
        // Served lists carry their diversity.
        let (_, recos) = c.get(&s.url(&format!("/v1/users/{user}/recommendations?limit=10")), &admin).await;
        let d = &recos["diversity"];
        let items = recos["items"].as_array().unwrap();
        let mut cats: Vec<&str> = items.iter().map(|i| i["category"].as_str().unwrap()).collect();
        cats.sort_unstable();
        cats.dedup();
        assert_eq!(d["len"].as_u64().unwrap() as usize, items.len());
        assert_eq!(d["distinct_categories"].as_u64().unwrap() as usize, cats.len(), "{d}");
        let ild = d["intra_list_diversity"].as_f64().unwrap();
        assert!((0.0..=2.0).contains(&ild), "{d}");
        assert_eq!(d["calibration_kl"].is_null(), m["bookings"].as_u64().unwrap() == 0, "{d}");
        let (status, discover) = c.get(&s.url(&format!("/v1/users/{user}/discover?limit=4")), &admin).await;
        assert_eq!(status, 200, "{discover}");
        let items = discover["items"].as_array().unwrap();
        assert!(items.len() <= 4);
        let mut seen = Vec::new();
        for item in items {
            let category = item["category"].as_str().unwrap();
            assert!(untried.contains(&category), "{category} was already booked by {user}");
            assert!(!seen.contains(&category), "two entries into {category}");
            seen.push(category);
            let g = &item["gateway"];
            assert!(g["text"].as_str().unwrap().contains("not tried"), "{g}");
            let (rate, score) = (g["entry_rate"].as_f64().unwrap(), g["score"].as_f64().unwrap());
            assert!((0.0..=1.0).contains(&rate) && score > 0.0);
            let expected = rate * (0.5 + 0.5 * g["follow_through"].as_f64().unwrap()) * g["lift"].as_f64().unwrap();
            assert!((score - expected).abs() < 1e-9 * expected.max(1.0), "{g}");
        }
        let scores: Vec<f64> = items.iter().map(|i| i["score"].as_f64().unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first: {scores:?}");
        if m["bookings"].as_u64().unwrap() > 0 && !items.is_empty() {
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} users had bookings and a discover list");
    let (status, err) = c.get(&s.url("/v1/users/nobody/journey"), &admin).await;
    assert_eq!((status, err["error"]["field"].as_str()), (404, Some("user_id")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_territory_view_counts_a_department_and_a_partner_sees_only_its_own_venues() {
    let tmp = data_dir();
    let admin = admin_key(tmp.path());
    let s = Server::start(tmp.path());
    let c = Client::new();
    // A department's residents, from the store, and their scores through the API.
    let store = SqliteStore::open(tmp.path()).unwrap();
    let mut residents: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    store
        .scan_users(&mut |u| {
            residents.entry(u.department.clone()).or_default().push(u.id);
            Ok(())
        })
        .unwrap();
    let (department, people) = residents.iter().max_by_key(|(_, p)| p.len()).unwrap();
    let mut bookings = 0u64;
    let mut consultations = 0u64;
    let mut scores = Vec::new();
    for id in people {
        for e in store.user_interactions(id).unwrap() {
            match e.kind {
                passeur_domain::InteractionKind::Booking { .. } => bookings += 1,
                passeur_domain::InteractionKind::Consultation => consultations += 1,
                _ => {}
            }
        }
        let (_, div) = c.get(&s.url(&format!("/v1/users/{id}/diversification")), &admin).await;
        scores.push(div["score"].as_u64().unwrap());
    }
    let (status, view) = c.get(&s.url(&format!("/v1/territory?department={department}")), &admin).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["users"].as_u64().unwrap() as usize, people.len());
    let total = &view["activity"]["total"];
    assert_eq!(
        (total["bookings"].as_u64().unwrap(), total["consultations"].as_u64().unwrap()),
        (bookings, consultations)
    );
    for cut in ["by_category", "by_month"] {
        let sum: u64 = view["activity"][cut].as_array().unwrap().iter().map(|k| k["bookings"].as_u64().unwrap()).sum();
        assert_eq!(sum, bookings, "{cut}");
    }
    assert!(
        view["activity"]["by_age"].as_array().unwrap().iter().all(|a| (14..=20).contains(&a["key"].as_i64().unwrap()))
    );
    let mean = scores.iter().sum::<u64>() as f64 / scores.len() as f64;
    assert!((view["scores"]["mean"].as_f64().unwrap() - mean).abs() < 1e-9, "{} vs {mean}", view["scores"]);
    let binned: u64 =
        view["scores"]["histogram"].as_array().unwrap().iter().map(|b| b["users"].as_u64().unwrap()).sum();
    assert_eq!(binned as usize, people.len());

    // A partner publishes an offer; a young person sees and books it; the partner sees it, and only its own.
    let partner = new_key(&c, &s, &admin, "partner", Some("P-terr")).await;
    let app = new_key(&c, &s, &admin, "app", None).await;
    assert_eq!(c.post(&s.url("/v1/venues"), &partner, &venue("V-terr", "P-terr")).await.0, 201);
    assert_eq!(c.post(&s.url("/v1/offers"), &partner, &offer("O-terr", "V-terr", "SEANCE_CINE", 600)).await.0, 201);
    assert_eq!(c.post(&s.url("/v1/users"), &app, &user("U-terr", 30_000)).await.0, 201);
    for kind in ["consultation", "booking"] {
        let mut e = json!({ "kind": kind, "user_id": "U-terr", "offer_id": "O-terr" });
        if kind == "booking" {
            e["amount_cents"] = json!(600);
        }
        assert_eq!(c.post(&s.url("/v1/events"), &app, &e).await.0, 201, "{kind}");
    }
    let (status, mine) = c.get(&s.url("/v1/territory"), &partner).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(
        (mine["scope"].as_str(), mine["id"].as_str(), mine["users"].as_u64()),
        (Some("partner"), Some("P-terr"), Some(1))
    );
    let offers = mine["offers"].as_array().unwrap();
    assert_eq!(offers.len(), 1);
    assert_eq!(
        (offers[0]["offer_id"].as_str(), offers[0]["bookings"].as_u64(), offers[0]["consultations"].as_u64()),
        (Some("O-terr"), Some(1), Some(1))
    );
    assert_eq!(mine["activity"]["by_category"][0]["key"], "CINEMA");
    assert_eq!(c.get(&s.url("/v1/territory?partner_id=P-terr"), &partner).await.0, 200);
    let (status, err) = c.get(&s.url("/v1/territory?partner_id=P-other"), &partner).await;
    assert_eq!(status, 403, "{err}");
    assert_eq!(c.get(&s.url(&format!("/v1/territory?department={department}")), &partner).await.0, 403);
    assert_eq!(c.get(&s.url("/v1/territory"), &app).await.0, 403);
    let (status, err) = c.get(&s.url("/v1/territory?partner_id=P-nobody"), &admin).await;
    assert_eq!((status, err["error"]["field"].as_str()), (404, Some("partner_id")), "{err}");
    let (status, err) = c.get(&s.url("/v1/territory?department=00"), &admin).await;
    assert_eq!((status, err["error"]["field"].as_str()), (404, Some("department")), "{err}");
    assert_eq!(c.get(&s.url("/v1/territory?department=75&partner_id=P-terr"), &admin).await.0, 400);

    // The catalogue's exposure: every offer counted, every logged impression in the window.
    let counts = SqliteStore::open(tmp.path()).unwrap().counts().unwrap();
    let (status, cat) = c.get(&s.url("/v1/catalogue/diversity?days=3650"), &admin).await;
    assert_eq!(status, 200, "{cat}");
    let m = &cat["metrics"];
    assert_eq!(m["offers"].as_u64().unwrap(), counts.offers);
    assert_eq!(cat["impressions"].as_u64().unwrap(), counts.impressions);
    assert!(m["exposed_offers"].as_u64().unwrap() <= counts.offers && m["exposed_offers"].as_u64().unwrap() > 0);
    let coverage = m["exposed_offers"].as_f64().unwrap() / counts.offers as f64;
    assert!((m["coverage"].as_f64().unwrap() - coverage).abs() < 1e-12);
    for g in ["gini_offers", "gini_venues", "gini_partners"] {
        assert!((0.0..1.0).contains(&m[g].as_f64().unwrap()), "{g}: {m}");
    }
    assert_eq!(c.get(&s.url("/v1/catalogue/diversity"), &partner).await.0, 403);
    assert_eq!(c.get(&s.url("/v1/catalogue/diversity?days=0"), &admin).await.0, 400);
}

/// The inspector in real headless Chromium (Debian's `chromium`, driven by playwright-core from
/// `tools/browser`; `scripts/test.sh` installs both). Screenshots go to `$PASSEUR_SCREENSHOTS` when set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspector_pages_load_in_headless_chromium_and_agree_with_the_api() {
    let root =
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR when it runs tests"))
            .join("../..");
    let script = root.join("tools/browser/inspect.mjs");
    assert!(
        root.join("tools/browser/node_modules/playwright-core").exists() && Path::new("/usr/bin/chromium").exists(),
        "the browser test needs chromium and tools/browser's node modules: run `bash scripts/setup-browser.sh`"
    );
    let tmp = data_dir();
    let admin = admin_key(tmp.path());
    let s = Server::start_with(tmp.path(), &[("PASSEUR_MAP_POINTS", "300")]);
    let c = Client::new();
    let (users, _) = some_ids(tmp.path(), 200, 0);
    let mut chosen = None;
    for u in &users {
        let (_, div) = c.get(&s.url(&format!("/v1/users/{u}/diversification")), &admin).await;
        if div["score"].as_u64().unwrap_or(0) > 0 && div["bookings"].as_array().is_some_and(|b| b.len() >= 3) {
            chosen = Some((u.clone(), div["score"].as_u64().unwrap()));
            break;
        }
    }
    let (user, score) = chosen.expect("a user with bookings");
    let (_, record) = c.get(&s.url(&format!("/v1/users/{user}")), &admin).await;
    let department = record["department"].as_str().unwrap().to_owned();
    let shots = std::env::var_os("PASSEUR_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("screenshots"));
    let base = s.base.clone();
    let shots_dir = shots.clone();
    let run = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .args([&base, &admin, &user, &department])
            .arg(&shots)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "node failed: {}\n{stdout}", String::from_utf8_lossy(&run.stderr));
    let out: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(out["errors"], json!([]), "console errors: {out}");
    for page in ["index", "user", "offer", "territory", "map"] {
        assert!(out["pages"][page].is_object(), "{page} did not load: {out}");
        let png = std::fs::metadata(shots_dir.join(format!("{page}.png"))).map(|m| m.len()).unwrap_or(0);
        assert!(png > 5_000, "{page}: screenshot of {png} bytes");
    }
    assert_eq!(out["pages"]["user"]["score"].as_str().unwrap(), score.to_string(), "the page shows the API's score");
    assert!(out["pages"]["user"]["recommendations"].as_u64().unwrap() > 0);
    let clicked = out["clicked"].as_str().unwrap();
    let offer = out["offer"]["id"].as_str().unwrap();
    assert!(clicked.starts_with(&format!("/inspector/offers/{offer}")), "clicked {clicked}, landed on {offer}");
    assert!(out["offer"]["url"].as_str().unwrap().contains(offer));
    assert!(out["pages"]["territory"]["charts"].as_u64().unwrap() >= 4);
    assert_eq!(out["pages"]["map"]["points"].as_u64().unwrap(), 300);
}
