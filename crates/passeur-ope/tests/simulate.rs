//! The simulator on a small synthetic world: the truth is exact, unbiased estimators land near it, and
//! LinUCB learns a linear bandit.

use passeur_ope::bandit::LinUcb;
use passeur_ope::simulate::{Environment, SimConfig, run_bandit, run_study};
use passeur_synth::{Scale, World, WorldConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn world() -> World {
    World::generate(WorldConfig::for_scale(Scale::Small, 3))
}

#[test]
fn the_study_is_exact_for_the_logger_and_unbiased_estimators_are_close_to_the_truth() {
    let world = world();
    let env = Environment::new(&world, 400, 1, None);
    let config = SimConfig::standard(4_000, 3);
    let study = run_study(&env, &config).unwrap();
    let cell = |target: &str, estimator: &str| {
        study
            .rows
            .iter()
            .find(|r| r.target.starts_with(target) && r.estimator == estimator)
            .unwrap_or_else(|| panic!("no row {target} × {estimator}"))
    };
    // The logger as its own target: every weight is 1, so the importance-weighted estimators are the
    // logged average exactly, and that average is near the exact truth.
    let logger = "λ=1 τ=0.1 ε=0.2 shuffle=5% (the logger)";
    let on_policy = cell(logger, "on-policy");
    for name in ["standard IPS", "independent IPS", "RIPS", "SN independent IPS", "SN RIPS", "SNIPS"] {
        let row = cell(logger, name);
        assert!(
            (row.estimate - on_policy.estimate).abs() < 1e-12,
            "{name}: {} vs {}",
            row.estimate,
            on_policy.estimate
        );
    }
    assert!(on_policy.relative_rmse < 0.05, "the logged average is {:.3} off", on_policy.relative_rmse);
    // Another target: the unbiased estimators are within a few percent, and every row is finite.
    for name in ["independent IPS", "RIPS", "DR"] {
        let row = cell("λ=1 τ=0.2", name);
        assert!(row.relative_rmse < 0.1, "{name}: relative RMSE {}", row.relative_rmse);
    }
    assert!(study.rows.iter().all(|r| r.estimate.is_finite() && r.truth > 0.0));
    // Targets differ in truth: λ changes what is shown.
    assert!((cell("λ=0 τ=0.1", "DR").truth - cell("λ=2 τ=0.1", "DR").truth).abs() > 1e-4);
    // Same seeds, same study.
    let again = run_study(&env, &config).unwrap();
    assert_eq!(study.rows, again.rows);
    // A deterministic logger is refused.
    let mut deterministic = config.clone();
    deterministic.logger.exploration = passeur_ope::Exploration::default();
    let err = run_study(&env, &deterministic).unwrap_err().to_string();
    assert!(err.contains("deterministic"), "{err}");
}

#[test]
fn linucb_learns_a_linear_bandit_and_the_online_comparison_runs() {
    // 10 arms with fixed features; reward ~ Bernoulli(θᵀx). LinUCB's late choices are mostly the best arm.
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let dim = 5;
    let theta: Vec<f64> = vec![0.3, -0.2, 0.25, 0.1, 0.05];
    let arms: Vec<Vec<f64>> = (0..10).map(|_| (0..dim).map(|_| rng.random_range(0.0..1.0)).collect()).collect();
    let value = |x: &[f64]| x.iter().zip(&theta).map(|(a, b)| a * b).sum::<f64>().clamp(0.0, 1.0);
    let best = (0..10).max_by(|a, b| value(&arms[*a]).total_cmp(&value(&arms[*b]))).unwrap();
    let mut learner = LinUcb::new(dim, 0.5, 1.0);
    let flat: Vec<f64> = arms.iter().flatten().copied().collect();
    let mut late_best = 0;
    for t in 0..4_000 {
        let a = learner.choose(&flat).unwrap();
        if t >= 3_000 && a == best {
            late_best += 1;
        }
        let reward = f64::from(u8::from(rng.random_bool(value(&arms[a]))));
        learner.update(&arms[a], reward);
    }
    assert!(late_best > 800, "the best arm was chosen {late_best} times out of the last 1000");
    assert_eq!(learner.updates(), 4_000);

    let world = world();
    let env = Environment::new(&world, 400, 1, None);
    let config = SimConfig::standard(3_000, 1);
    let rows = run_bandit(&env, &config, 1.0, 2, 0.3, 9).unwrap();
    assert_eq!(rows.len(), 3);
    // Filling the slot uniformly loses clicks against the ranker's own choice.
    assert!(rows[1].clicks_per_list < rows[0].clicks_per_list, "{rows:?}");
    assert!(rows.iter().all(|r| r.clicks_per_list > 0.0 && r.slot_clicks <= r.clicks_per_list));
    assert!(run_bandit(&env, &config, 1.0, 5, 0.3, 9).is_err());
}
