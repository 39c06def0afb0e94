//! The exploring policy's probabilities against enumeration and sampling, and the slate estimators'
//! exact expectations on small problems where every list can be enumerated.

use passeur_ope::slate::{check_slate_support, conditionals};
use passeur_ope::{Exploration, SlateEstimator, SlateRound, unsupported_mass};

const SCORES: [f64; 5] = [0.9, 0.2, 0.5, 0.5, -0.3];

fn policies() -> Vec<Exploration> {
    vec![
        Exploration::default(),
        Exploration { temperature: 0.3, ..Exploration::default() },
        Exploration { temperature: 1.0, epsilon: 0.2, epsilon_positions: vec![1], shuffle_share: 0.0 },
        Exploration { temperature: 0.0, epsilon: 0.5, epsilon_positions: vec![0, 2], shuffle_share: 0.1 },
        Exploration { temperature: 0.5, epsilon: 0.1, epsilon_positions: vec![2], shuffle_share: 0.25 },
        Exploration { temperature: 0.0, epsilon: 0.0, epsilon_positions: vec![], shuffle_share: 1.0 },
    ]
}

/// Every ordered list of `k` distinct candidates among `m`.
fn lists(m: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = vec![vec![]];
    for _ in 0..k {
        let mut next = Vec::new();
        for l in &out {
            for i in (0..m).filter(|i| !l.contains(i)) {
                next.push([l.clone(), vec![i]].concat());
            }
        }
        out = next;
    }
    out
}

#[test]
fn list_probabilities_sum_to_one_and_marginals_agree_with_enumeration() {
    for policy in policies() {
        let all = lists(SCORES.len(), 3);
        let probabilities: Vec<f64> = all.iter().map(|l| policy.prefix_probabilities(&SCORES, l)[2]).collect();
        let total: f64 = probabilities.iter().sum();
        assert!((total - 1.0).abs() < 1e-12, "{policy:?}: lists sum to {total}");
        // A prefix's probability is the sum of its completions'.
        for prefix in lists(SCORES.len(), 2) {
            let p = policy.prefix_probabilities(&SCORES, &prefix)[1];
            let completions: f64 =
                all.iter().zip(&probabilities).filter(|(l, _)| l[..2] == prefix[..]).map(|(_, p)| p).sum();
            assert!((p - completions).abs() < 1e-12, "{policy:?} {prefix:?}: {p} vs {completions}");
        }
        let marginals = policy.marginals(&SCORES, 3, 1_000).unwrap();
        for (j, row) in marginals.iter().enumerate() {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{policy:?}: position {j}");
            for (item, m) in row.iter().enumerate() {
                let enumerated: f64 =
                    all.iter().zip(&probabilities).filter(|(l, _)| l[j] == item).map(|(_, p)| p).sum();
                assert!((m - enumerated).abs() < 1e-12, "{policy:?}: item {item} at {j}: {m} vs {enumerated}");
            }
        }
    }
}

#[test]
fn draws_reproduce_from_their_seed_and_follow_their_probabilities() {
    let policy = Exploration { temperature: 0.4, epsilon: 0.3, epsilon_positions: vec![1], shuffle_share: 0.1 };
    let a = policy.draw(&SCORES, 3, 99);
    let b = policy.draw(&SCORES, 3, 99);
    assert_eq!(a, b, "the same seed gives the same list and probabilities");
    assert_eq!(a.prefix, policy.prefix_probabilities(&SCORES, &a.order));
    assert_eq!(a.conditional, conditionals(&a.prefix));
    let draws = 200_000;
    let mut counts = std::collections::HashMap::new();
    for seed in 0..draws {
        *counts.entry(policy.draw(&SCORES, 3, seed).order).or_insert(0u32) += 1;
    }
    for list in lists(SCORES.len(), 3) {
        let p = policy.prefix_probabilities(&SCORES, &list)[2];
        let observed = f64::from(counts.get(&list).copied().unwrap_or(0)) / draws as f64;
        let sd = (p * (1.0 - p) / draws as f64).sqrt();
        assert!((observed - p).abs() <= 5.0 * sd + 1e-9, "{list:?}: drawn {observed}, probability {p}");
    }
}

#[test]
fn the_deterministic_policy_serves_the_score_order_with_propensity_one_and_is_refused() {
    let policy = Exploration::default();
    assert!(policy.is_deterministic());
    let drawn = policy.draw(&SCORES, 4, 5);
    assert_eq!(drawn.order, vec![0, 2, 3, 1], "by score, ties to the lower index");
    assert_eq!(drawn.prefix, vec![1.0; 4]);
    let target = Exploration { temperature: 0.5, ..Exploration::default() };
    let round = SlateRound {
        rewards: vec![1.0, 0.0, 0.0],
        logging_prefix: drawn.prefix[..3].to_vec(),
        target_prefix: target.prefix_probabilities(&SCORES, &drawn.order[..3]),
        ..SlateRound::default()
    };
    let err = check_slate_support(std::slice::from_ref(&round)).unwrap_err().to_string();
    assert!(err.contains("deterministic"), "{err}");
    // Evaluating the logger itself is allowed.
    let same = SlateRound { target_prefix: round.logging_prefix.clone(), ..round };
    check_slate_support(&[same]).unwrap();
    assert!(!Exploration { temperature: 0.1, ..Exploration::default() }.is_deterministic());
    assert_eq!(unsupported_mass(&[0.5, 0.3, 0.2], &[1.0, 0.0, 0.0]), 0.5);
}

/// Position-based rewards: the click probability at position j is `examine[j] × attraction[item]`.
const EXAMINE: [f64; 3] = [1.0, 0.6, 0.3];
const ATTRACTION: [f64; 5] = [0.5, 0.1, 0.3, 0.25, 0.05];

fn value(policy: &Exploration) -> f64 {
    let marginals = policy.marginals(&SCORES, 3, 1_000).unwrap();
    (0..3).map(|j| (0..5).map(|a| marginals[j][a] * EXAMINE[j] * ATTRACTION[a]).sum::<f64>()).sum()
}

/// An estimator's exact expectation under the logger: every list weighted by its probability, with
/// each position's reward replaced by its expectation (the terms are linear in the rewards).
fn expectation(estimator: SlateEstimator, logger: &Exploration, target: &Exploration) -> f64 {
    let (lm, tm) = (logger.marginals(&SCORES, 3, 1_000).unwrap(), target.marginals(&SCORES, 3, 1_000).unwrap());
    lists(5, 3)
        .into_iter()
        .map(|list| {
            let logging_prefix = logger.prefix_probabilities(&SCORES, &list);
            let round = SlateRound {
                rewards: (0..3).map(|j| EXAMINE[j] * ATTRACTION[list[j]]).collect(),
                target_prefix: target.prefix_probabilities(&SCORES, &list),
                logging_marginal: (0..3).map(|j| lm[j][list[j]]).collect(),
                target_marginal: (0..3).map(|j| tm[j][list[j]]).collect(),
                logging_prefix: logging_prefix.clone(),
            };
            logging_prefix[2] * estimator.terms(&[round]).unwrap()[0]
        })
        .sum()
}

#[test]
fn unbiased_slate_estimators_have_the_true_value_as_their_exact_expectation() {
    let logger = Exploration { temperature: 0.5, epsilon: 0.2, epsilon_positions: vec![0, 1, 2], shuffle_share: 0.1 };
    let targets = [
        Exploration { temperature: 0.2, ..Exploration::default() },
        Exploration { temperature: 2.0, epsilon: 0.1, epsilon_positions: vec![1], shuffle_share: 0.0 },
        Exploration::default(),
    ];
    for target in &targets {
        let truth = value(target);
        for estimator in
            [SlateEstimator::StandardIps, SlateEstimator::IndependentIps, SlateEstimator::RewardInteractionIps]
        {
            let e = expectation(estimator, &logger, target);
            assert!((e - truth).abs() < 1e-12, "{estimator:?} → {target:?}: expectation {e}, truth {truth}");
        }
    }
    // The on-policy average is the logger's own value.
    let e = expectation(SlateEstimator::OnPolicy, &logger, &targets[0]);
    assert!((e - value(&logger)).abs() < 1e-12);
    pseudo_inverse_is_unbiased_under_a_logger_that_draws_positions_independently(&targets);
    // Bad input names the field and the round.
    let bad =
        SlateRound { rewards: vec![1.0], logging_prefix: vec![0.0], target_prefix: vec![0.5], ..Default::default() };
    let err = SlateEstimator::StandardIps.estimate(&[bad]).unwrap_err().to_string();
    assert!(err.contains("logging_prefix") && err.contains("round 0"), "{err}");
}

/// The pseudo-inverse's closed form assumes a factorised logger: each position drawn independently
/// (repeats allowed), `μ(s) = Π_j μ_j(s_j)`. Every such list is enumerated with its probability.
fn pseudo_inverse_is_unbiased_under_a_logger_that_draws_positions_independently(targets: &[Exploration]) {
    let mu = [[0.3, 0.1, 0.2, 0.25, 0.15], [0.2, 0.2, 0.2, 0.2, 0.2], [0.1, 0.4, 0.1, 0.3, 0.1]];
    for target in targets {
        let tm = target.marginals(&SCORES, 3, 1_000).unwrap();
        let mut expectation = 0.0;
        for a in 0..5 {
            for b in 0..5 {
                for c in 0..5 {
                    let list = [a, b, c];
                    let probability: f64 = (0..3).map(|j| mu[j][list[j]]).product();
                    let round = SlateRound {
                        rewards: (0..3).map(|j| EXAMINE[j] * ATTRACTION[list[j]]).collect(),
                        logging_prefix: vec![1.0; 3],
                        target_prefix: vec![1.0; 3],
                        logging_marginal: (0..3).map(|j| mu[j][list[j]]).collect(),
                        target_marginal: (0..3).map(|j| tm[j][list[j]]).collect(),
                    };
                    expectation += probability * SlateEstimator::PseudoInverse.terms(&[round]).unwrap()[0];
                }
            }
        }
        let truth = value(target);
        assert!((expectation - truth).abs() < 1e-12, "pseudo-inverse → {target:?}: {expectation} vs {truth}");
    }
}
