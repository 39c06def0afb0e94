//! Off-policy evaluation checked end to end: an exploring policy's lists are logged in the closed loop
//! exactly as the service records them (its `served_lists` policy and body), `passeur ope`'s estimators
//! value each target policy from those logs, and each estimate is compared with the target's own
//! closed-loop truth, run with the same seeds.
//!
//! The value is the one `passeur ope` estimates: consultations (clicks) on the first `positions`
//! positions per list. Two things separate an estimate from the truth: the estimator's own error, and
//! the loop itself (a target changes what its users become, so its lists are served to other states
//! than the logger's: offline evaluation cannot see that part).

use crate::behaviour::Behaviour;
use crate::error::{JourneyError, Result};
use crate::league::PolicySpec;
use crate::simulate::Study;
use passeur_ope::Exploration;
use passeur_ope::logs::{EvalSettings, ListPolicy, LoggedBody, LoggedList, LoggedPolicy, evaluate};
use passeur_ranking::{Mixing, Order};
use serde::Serialize;

/// One estimator on one target, over the seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpeRow {
    /// The target policy.
    pub target: String,
    /// The estimator.
    pub estimator: String,
    /// The target's closed-loop value (mean over seeds).
    pub truth: f64,
    /// The mean estimate over seeds.
    pub estimate: f64,
    /// Mean estimate − truth.
    pub bias: f64,
    /// Root mean squared error over seeds.
    pub rmse: f64,
    /// Share of seeds whose interval holds the truth.
    pub coverage: f64,
}

/// The check's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpeCheck {
    /// The logging policy.
    pub logger: String,
    /// The logger's own closed-loop value (mean over seeds).
    pub logger_value: f64,
    /// Lists logged per seed (mean).
    pub lists: f64,
    /// Positions valued.
    pub positions: usize,
    /// Every (target, estimator).
    pub rows: Vec<OpeRow>,
    /// The estimators' warnings, per target (first seed).
    pub warnings: Vec<(String, Vec<String>)>,
}

/// The list policy `passeur ope` can value for a league policy: the objective with λ, no mixing, no cap,
/// no slot, deterministic. Others are not list policies over the logged candidates.
pub fn list_policy(p: &PolicySpec) -> Option<ListPolicy> {
    let plain = matches!(p.order, None | Some(Order::Objective))
        && p.lambda.is_some()
        && matches!(p.mixing, Some(Mixing::None))
        && p.max_category_share.is_some_and(|s| s >= 1.0)
        && p.discover_slot.is_none()
        && p.booking_floor.is_none();
    let exploration = match &p.exploration {
        Some(e) => e.policy(),
        None => Exploration::default(),
    };
    plain.then(|| ListPolicy { lambda: p.lambda.unwrap_or_default(), exploration })
}

/// An estimator's name and its (estimate, lower, upper) per seed.
type PerSeed = (String, Vec<(f64, f64, f64)>);

fn clicks(lists: &[crate::simulate::LoggedList], positions: usize) -> f64 {
    let long: Vec<_> = lists.iter().filter(|l| l.offers.len() >= positions).collect();
    let total: usize = long.iter().map(|l| l.consulted[..positions].iter().filter(|&&c| c).count()).sum();
    total as f64 / long.len().max(1) as f64
}

/// Runs the check: `logger` (an exploring policy) and each of `targets` in the loop with every seed.
pub fn check(
    study: &mut Study<'_>,
    logger: &PolicySpec,
    targets: &[PolicySpec],
    behaviour: &Behaviour,
    seeds: &[u64],
    settings: &EvalSettings,
    done: &mut dyn FnMut(&str, u64),
) -> Result<OpeCheck> {
    if list_policy(logger).is_none_or(|l| l.exploration.is_deterministic()) {
        return Err(JourneyError::Config {
            field: "logger".into(),
            reason: format!(
                "{:?} is not an exploring list policy over the objective (no mixing, no cap, an exploration)",
                logger.name
            ),
        });
    }
    let k = settings.positions;
    study.set_log_lists(true);
    let targets: Vec<(&PolicySpec, ListPolicy)> =
        targets.iter().filter_map(|t| list_policy(t).map(|l| (t, l))).collect();
    // estimates[target] = each estimator's (estimate, lower, upper) per seed; truths[target] per seed.
    let mut estimates: Vec<Vec<PerSeed>> = vec![Vec::new(); targets.len()];
    let mut truths: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    let mut warnings = Vec::new();
    let (mut logger_value, mut lists) = (0.0, 0.0);
    for &seed in seeds {
        let run = study.run(logger, behaviour, seed)?;
        done(&logger.name, seed);
        logger_value += clicks(&run.logged, k) / seeds.len() as f64;
        let mut logged: Vec<LoggedList> = Vec::with_capacity(run.logged.len());
        for l in &run.logged {
            let Some((policy, body)) = &l.record else { continue };
            let policy: LoggedPolicy = serde_json::from_str(policy)
                .map_err(|e| JourneyError::Engine(format!("a served list's policy: {e}")))?;
            let body: LoggedBody =
                serde_json::from_str(body).map_err(|e| JourneyError::Engine(format!("a served list's body: {e}")))?;
            let rewards = l.consulted.iter().map(|&c| f64::from(u8::from(c))).collect();
            logged.push(LoggedList::from_record(l.user as u64, &policy, body, rewards));
        }
        lists += logged.len() as f64 / seeds.len() as f64;
        for (t, (spec, target)) in targets.iter().enumerate() {
            // A target the logs cannot support (e.g. a deterministic order no logged prefix matches) is
            // reported with the estimators' reason, not valued.
            let evaluation =
                match evaluate(&logged, target, &EvalSettings { seed: settings.seed ^ seed, ..settings.clone() }) {
                    Ok(e) => e,
                    Err(e) => {
                        if seed == seeds[0] {
                            warnings.push((spec.name.clone(), vec![format!("not valued: {e}")]));
                        }
                        continue;
                    }
                };
            if seed == seeds[0] {
                warnings.push((spec.name.clone(), evaluation.warnings.clone()));
            }
            for row in evaluation.rows {
                let i = row.interval;
                match estimates[t].iter_mut().find(|(n, _)| *n == row.estimator) {
                    Some((_, v)) => v.push((i.estimate, i.lower, i.upper)),
                    None => estimates[t].push((row.estimator.clone(), vec![(i.estimate, i.lower, i.upper)])),
                }
            }
            let truth = study.run(spec, behaviour, seed)?;
            done(&spec.name, seed);
            truths[t].push(clicks(&truth.logged, k));
        }
    }
    study.set_log_lists(false);
    let mut rows = Vec::new();
    for (t, (spec, _)) in targets.iter().enumerate() {
        let truth = truths[t].iter().sum::<f64>() / truths[t].len().max(1) as f64;
        for (name, values) in &estimates[t] {
            let n = values.len().max(1) as f64;
            let estimate = values.iter().map(|v| v.0).sum::<f64>() / n;
            let rmse = (values.iter().map(|v| (v.0 - truth).powi(2)).sum::<f64>() / n).sqrt();
            let coverage = values.iter().filter(|v| v.1 <= truth && truth <= v.2).count() as f64 / n;
            rows.push(OpeRow {
                target: spec.name.clone(),
                estimator: name.clone(),
                truth,
                estimate,
                bias: estimate - truth,
                rmse,
                coverage,
            });
        }
    }
    Ok(OpeCheck { logger: logger.name.clone(), logger_value, lists, positions: k, rows, warnings })
}

/// The check as a Markdown table.
pub fn ope_table(check: &OpeCheck) -> String {
    let mut out = String::from(
        "| target | estimator | closed-loop truth | mean estimate | bias | relative bias | RMSE | 95 % coverage |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in &check.rows {
        out.push_str(&format!(
            "| {} | {} | {:.4} | {:.4} | {:+.4} | {:+.1} % | {:.4} | {:.0} % |\n",
            r.target,
            r.estimator,
            r.truth,
            r.estimate,
            r.bias,
            100.0 * r.bias / r.truth.max(1e-12),
            r.rmse,
            100.0 * r.coverage
        ));
    }
    out
}
