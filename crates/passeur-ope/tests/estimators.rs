//! The estimators on hand-computed cases, and their statistical properties on
//! simulated bandits whose true value is known exactly.

use passeur_ope::{Estimator, OpeError, Round, check_support, diagnostics};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn round(reward: f64, logging: f64, target: f64, model_logged: f64, model_target: f64) -> Round {
    Round { reward, logging, target, model_logged, model_target }
}

const ALL: [Estimator; 8] = [
    Estimator::OnPolicy,
    Estimator::Ips { clip: f64::INFINITY },
    Estimator::Snips,
    Estimator::Dm,
    Estimator::Dr,
    Estimator::Sndr,
    Estimator::SwitchDr { tau: 2.0 },
    Estimator::DrOs { lambda: 4.0 },
];

#[test]
fn hand_computed_values() {
    // Weights: 0.5/0.25 = 2, 0.2/0.5 = 0.4, 0.9/0.3 = 3.
    let rounds = [round(1.0, 0.25, 0.5, 0.6, 0.5), round(0.0, 0.5, 0.2, 0.3, 0.4), round(1.0, 0.3, 0.9, 0.7, 0.8)];
    let mean_w = (2.0 + 0.4 + 3.0) / 3.0;
    let expected = [
        (Estimator::OnPolicy, 2.0 / 3.0),
        (Estimator::Ips { clip: f64::INFINITY }, (2.0 + 0.0 + 3.0) / 3.0),
        (Estimator::Ips { clip: 2.5 }, (2.0 + 0.0 + 2.5) / 3.0),
        (Estimator::Snips, (2.0 + 0.0 + 3.0) / 3.0 / mean_w),
        (Estimator::Dm, (0.5 + 0.4 + 0.8) / 3.0),
        (Estimator::Dr, ((0.5 + 2.0 * 0.4) + (0.4 + 0.4 * -0.3) + (0.8 + 3.0 * 0.3)) / 3.0),
        (
            Estimator::Sndr,
            ((0.5 + 2.0 * 0.4 / mean_w) + (0.4 + 0.4 * -0.3 / mean_w) + (0.8 + 3.0 * 0.3 / mean_w)) / 3.0,
        ),
        (Estimator::SwitchDr { tau: 2.0 }, ((0.5 + 2.0 * 0.4) + (0.4 + 0.4 * -0.3) + 0.8) / 3.0),
        (
            Estimator::DrOs { lambda: 4.0 },
            ((0.5 + 8.0 / 8.0 * 0.4) + (0.4 + 1.6 / 4.16 * -0.3) + (0.8 + 12.0 / 13.0 * 0.3)) / 3.0,
        ),
    ];
    for (estimator, value) in expected {
        let got = estimator.estimate(&rounds).unwrap();
        assert!((got - value).abs() < 1e-12, "{estimator:?}: {got} vs {value}");
    }
    let d = diagnostics(&rounds).unwrap();
    assert!((d.mean_weight - mean_w).abs() < 1e-12);
    assert_eq!(d.max_weight, 3.0);
    assert!((d.effective_sample_size - 5.4 * 5.4 / (4.0 + 0.16 + 9.0)).abs() < 1e-12);
}

#[test]
fn estimators_reduce_to_the_logged_average_when_the_target_is_the_logger() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let rounds: Vec<Round> = (0..500)
        .map(|_| {
            let p = rng.random_range(0.05..1.0);
            round(f64::from(rng.random_bool(0.3)), p, p, 0.0, 0.0)
        })
        .collect();
    let on_policy = Estimator::OnPolicy.estimate(&rounds).unwrap();
    for e in ALL {
        if matches!(e, Estimator::Dm | Estimator::DrOs { .. }) {
            continue; // no reward model: the direct method says 0; finite shrinkage shrinks weights of 1 too
        }
        let got = e.estimate(&rounds).unwrap();
        assert!((got - on_policy).abs() < 1e-12, "{e:?}: {got} vs {on_policy}");
    }
    let unshrunk = Estimator::DrOs { lambda: f64::INFINITY }.estimate(&rounds).unwrap();
    assert!((unshrunk - on_policy).abs() < 1e-12);
    assert_eq!(diagnostics(&rounds).unwrap().mean_weight, 1.0);
}

/// A contextual bandit with known reward probabilities, a logging and a target policy.
struct Bandit {
    rewards: Vec<Vec<f64>>,
    logging: Vec<Vec<f64>>,
    target: Vec<Vec<f64>>,
}

fn softmax(logits: &[f64]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

impl Bandit {
    fn new(contexts: usize, actions: usize, seed: u64) -> Bandit {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut table = |scale: f64| -> Vec<Vec<f64>> {
            (0..contexts)
                .map(|_| softmax(&(0..actions).map(|_| rng.random_range(-scale..scale)).collect::<Vec<_>>()))
                .collect()
        };
        let logging = table(1.0);
        let target = table(2.0);
        let rewards = (0..contexts).map(|_| (0..actions).map(|_| rng.random_range(0.05..0.6)).collect()).collect();
        Bandit { rewards, logging, target }
    }

    /// The target's exact value, contexts uniform.
    fn truth(&self) -> f64 {
        let n = self.rewards.len() as f64;
        self.rewards
            .iter()
            .zip(&self.target)
            .map(|(r, t)| r.iter().zip(t).map(|(a, b)| a * b).sum::<f64>())
            .sum::<f64>()
            / n
    }

    /// `n` rounds logged by the logging policy; the reward model is the truth shifted by `model_error`.
    fn log(&self, n: usize, model_error: f64, rng: &mut ChaCha8Rng) -> Vec<Round> {
        (0..n)
            .map(|_| {
                let x = rng.random_range(0..self.rewards.len());
                let u: f64 = rng.random();
                let mut acc = 0.0;
                let mut a = self.logging[x].len() - 1;
                for (i, p) in self.logging[x].iter().enumerate() {
                    acc += p;
                    if u < acc {
                        a = i;
                        break;
                    }
                }
                let reward = f64::from(rng.random_bool(self.rewards[x][a]));
                let q = |b: usize| self.rewards[x][b] + model_error;
                let model_target = self.target[x].iter().enumerate().map(|(b, p)| p * q(b)).sum();
                round(reward, self.logging[x][a], self.target[x][a], q(a), model_target)
            })
            .collect()
    }
}

#[test]
fn ips_is_unbiased_and_its_normal_interval_covers_the_truth_at_the_stated_rate() {
    let bandit = Bandit::new(20, 5, 11);
    let truth = bandit.truth();
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let (reps, n) = (300, 2_000);
    let mut estimates = Vec::with_capacity(reps);
    let mut covered = 0;
    for _ in 0..reps {
        let rounds = bandit.log(n, 0.0, &mut rng);
        let terms = Estimator::Ips { clip: f64::INFINITY }.terms(&rounds).unwrap();
        let mean = terms.iter().sum::<f64>() / n as f64;
        let var = terms.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let half = 1.96 * (var / n as f64).sqrt();
        covered += usize::from((mean - truth).abs() <= half);
        estimates.push(mean);
    }
    let mean = estimates.iter().sum::<f64>() / reps as f64;
    let sd = (estimates.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (reps - 1) as f64).sqrt();
    // Unbiased: the mean of 300 independent estimates is within 4 standard errors of the truth.
    assert!((mean - truth).abs() < 4.0 * sd / (reps as f64).sqrt(), "mean {mean}, truth {truth}, sd {sd}");
    // A 95 % interval covers the truth in about 95 % of repetitions (binomial sd 1.3 %: at least 90 %).
    let rate = covered as f64 / reps as f64;
    assert!(rate >= 0.90, "coverage {rate}");
}

#[test]
fn snips_weights_average_one_under_a_correct_logger_and_dr_gains_from_a_good_model() {
    let bandit = Bandit::new(20, 5, 21);
    let truth = bandit.truth();
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    let rounds = bandit.log(50_000, 0.0, &mut rng);
    let d = diagnostics(&rounds).unwrap();
    assert!((d.mean_weight - 1.0).abs() < 0.02, "{d:?}");
    assert_eq!(d.deterministic_share, 0.0);
    for e in ALL.iter().skip(1) {
        let got = e.estimate(&rounds).unwrap();
        assert!((got - truth).abs() < 0.01, "{e:?}: {got} vs {truth}");
    }
    // With the exact reward model, DR's error is below IPS's over repeated logs (the rewards' own noise
    // remains: measured 0.72 of IPS's squared error here).
    let (mut ips_err, mut dr_err) = (0.0, 0.0);
    for _ in 0..50 {
        let rounds = bandit.log(1_000, 0.0, &mut rng);
        ips_err += (Estimator::Ips { clip: f64::INFINITY }.estimate(&rounds).unwrap() - truth).powi(2);
        dr_err += (Estimator::Dr.estimate(&rounds).unwrap() - truth).powi(2);
    }
    assert!(dr_err < ips_err, "squared errors: DR {dr_err}, IPS {ips_err}");
    // A biased model biases DM, not DR.
    let rounds = bandit.log(50_000, 0.1, &mut rng);
    let dm = Estimator::Dm.estimate(&rounds).unwrap();
    assert!((dm - truth - 0.1).abs() < 0.01, "DM {dm}, truth {truth}: off by the model's bias");
    assert!((Estimator::Dr.estimate(&rounds).unwrap() - truth).abs() < 0.01);
}

#[test]
fn a_deterministic_log_cannot_evaluate_another_policy_and_bad_inputs_name_the_round() {
    let deterministic = [round(1.0, 1.0, 0.0, 0.0, 0.0), round(0.0, 1.0, 1.0, 0.0, 0.0)];
    assert!(matches!(check_support(&deterministic), Err(OpeError::Unsupported(_))));
    let same = [round(1.0, 1.0, 1.0, 0.0, 0.0)];
    assert!(check_support(&same).is_ok(), "the logger itself is evaluated by its own average");
    assert!(check_support(&[round(1.0, 0.5, 0.9, 0.0, 0.0)]).is_ok());
    let cases = [
        (vec![round(1.0, 0.0, 0.5, 0.0, 0.0)], "logging", "round 0"),
        (vec![round(1.0, 0.5, 0.5, 0.0, 0.0), round(1.0, 0.5, 1.5, 0.0, 0.0)], "target", "round 1"),
        (vec![round(f64::NAN, 0.5, 0.5, 0.0, 0.0)], "reward", "round 0"),
        (vec![], "rounds", "no round"),
    ];
    for (rounds, field, text) in cases {
        match Estimator::Dr.estimate(&rounds) {
            Err(OpeError::BadInput { field: f, reason }) => {
                assert_eq!(f, field);
                assert!(reason.contains(text), "{reason}");
            }
            other => panic!("{field}: {other:?}"),
        }
    }
    let zero = [round(1.0, 0.5, 0.0, 0.0, 0.0)];
    assert!(matches!(Estimator::Snips.estimate(&zero), Err(OpeError::Unsupported(_))));
}

#[test]
fn the_clustered_bootstrap_covers_the_truth_and_widens_with_correlated_rounds() {
    use passeur_ope::bootstrap;
    let bandit = Bandit::new(20, 5, 31);
    let truth = bandit.truth();
    let mut rng = ChaCha8Rng::seed_from_u64(32);
    let reps = 60;
    let mut covered = 0;
    for r in 0..reps {
        let rounds = bandit.log(1_000, 0.0, &mut rng);
        let clusters: Vec<u64> = (0..rounds.len() as u64).collect();
        let i = bootstrap(Estimator::Snips, &rounds, &clusters, 200, 0.05, r).unwrap();
        assert!(i.lower <= i.estimate && i.estimate <= i.upper, "{i:?}");
        covered += usize::from(i.lower <= truth && truth <= i.upper);
    }
    assert!(covered as f64 / reps as f64 >= 0.85, "covered {covered} of {reps}");
    // Each user's rounds repeated 5 times: independent draws they are not; clustering by user widens
    // the interval to what 200 users can tell.
    let users = bandit.log(200, 0.0, &mut rng);
    let rounds: Vec<Round> = users.iter().flat_map(|r| std::iter::repeat_n(*r, 5)).collect();
    let by_user: Vec<u64> = (0..rounds.len() as u64).map(|i| i / 5).collect();
    let by_round: Vec<u64> = (0..rounds.len() as u64).collect();
    let clustered = bootstrap(Estimator::Ips { clip: f64::INFINITY }, &rounds, &by_user, 400, 0.05, 1).unwrap();
    let naive = bootstrap(Estimator::Ips { clip: f64::INFINITY }, &rounds, &by_round, 400, 0.05, 1).unwrap();
    let width = |i: &passeur_ope::Interval| i.upper - i.lower;
    assert!(width(&clustered) > 1.8 * width(&naive), "clustered {clustered:?}, naive {naive:?}");
    // Seeded: the same call gives the same interval.
    assert_eq!(clustered, bootstrap(Estimator::Ips { clip: f64::INFINITY }, &rounds, &by_user, 400, 0.05, 1).unwrap());
}

#[test]
fn the_empirical_bernstein_bound_is_below_the_truth_at_least_at_its_rate() {
    use passeur_ope::bernstein_lower;
    // Hand-computed: terms 0, 1, 1, 2 in [0, 2], δ = 0.1: mean 1, variance 2/3, ln 20.
    let got = bernstein_lower(&[0.0, 1.0, 1.0, 2.0], 2.0, 0.1).unwrap();
    let l = 20f64.ln();
    let want = 1.0 - (2.0 * (2.0 / 3.0) * l / 4.0).sqrt() - 7.0 * 2.0 * l / 9.0;
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    let bandit = Bandit::new(20, 5, 41);
    let truth = bandit.truth();
    let max_weight = bandit
        .target
        .iter()
        .zip(&bandit.logging)
        .flat_map(|(t, b)| t.iter().zip(b).map(|(x, y)| x / y))
        .fold(0.0, f64::max);
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let (reps, delta) = (100, 0.05);
    let mut below = 0;
    for _ in 0..reps {
        let rounds = bandit.log(5_000, 0.0, &mut rng);
        let terms = Estimator::Ips { clip: f64::INFINITY }.terms(&rounds).unwrap();
        let bound = bernstein_lower(&terms, max_weight, delta).unwrap();
        let mean = terms.iter().sum::<f64>() / terms.len() as f64;
        assert!(bound < mean);
        below += usize::from(bound <= truth);
    }
    assert!(below as f64 / reps as f64 >= 1.0 - delta, "{below} of {reps}");
    assert!(matches!(bernstein_lower(&[0.5, 3.0], 2.0, 0.1), Err(OpeError::BadInput { field: "terms", .. })));
}

#[test]
fn the_cross_fitted_reward_model_learns_the_reward_and_never_predicts_a_round_from_its_own_fold() {
    use passeur_ope::{CrossFitted, RewardModelConfig};
    // Reward probability σ(2x − 1) on one feature; clusters of 5 rounds.
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let n = 6_000;
    let x: Vec<f64> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
    let rewards: Vec<f64> =
        x.iter().map(|v| f64::from(u8::from(rng.random_bool(1.0 / (1.0 + (-(2.0 * v - 1.0)).exp()))))).collect();
    let clusters: Vec<u64> = (0..n as u64).map(|i| i / 5).collect();
    let config = RewardModelConfig { l2: 1e-3, ..RewardModelConfig::default() };
    let model = CrossFitted::fit(&x, 1, &rewards, &clusters, &config).unwrap();
    for v in [-1.5f64, 0.0, 0.5, 1.5] {
        let truth = 1.0 / (1.0 + (-(2.0 * v - 1.0)).exp());
        for round in [0, 7, 4_000] {
            let p = model.predict(round, &[v]);
            assert!((p - truth).abs() < 0.05, "x = {v}: predicted {p}, truth {truth}");
        }
    }
    // A cluster's rounds share a fold; every fold is used.
    let folds = model.folds();
    assert!(clusters.iter().zip(folds).all(|(c, f)| folds[(*c * 5) as usize] == *f));
    assert!((0..config.folds).all(|f| folds.contains(&f)));
    // A fold's model is fitted without that fold: changing one fold's rewards leaves its predictions alone.
    let mut flipped = rewards.clone();
    for i in 0..n {
        if folds[i] == 0 {
            flipped[i] = 1.0 - flipped[i];
        }
    }
    let other = CrossFitted::fit(&x, 1, &flipped, &clusters, &config).unwrap();
    let in_fold_0 = folds.iter().position(|f| *f == 0).unwrap();
    assert_eq!(model.predict(in_fold_0, &[0.3]), other.predict(in_fold_0, &[0.3]));
    let in_fold_1 = folds.iter().position(|f| *f == 1).unwrap();
    assert_ne!(model.predict(in_fold_1, &[0.3]), other.predict(in_fold_1, &[0.3]));
    let err = CrossFitted::fit(&x[..10], 1, &rewards, &clusters, &config).unwrap_err().to_string();
    assert!(err.contains("features"), "{err}");
}
