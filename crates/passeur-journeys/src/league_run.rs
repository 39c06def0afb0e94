//! The league's results: each policy's measures over seeds, with 95 % intervals, compared with the
//! baseline policy (the mission ratio), and the target's verdict.

use crate::simulate::{Metrics, RunOutcome};
use serde::{Deserialize, Deserializer, Serialize};

/// NaN is written as JSON null; read null back as NaN.
fn nan_when_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Student's t quantile at 0.975 for `df` degrees of freedom (exact table up to 30, normal beyond).
pub fn t975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        _ => 1.960,
    }
}

/// A mean with its 95 % interval's half-width (Student's t over the seeds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The mean over seeds.
    #[serde(deserialize_with = "nan_when_null")]
    pub mean: f64,
    /// Half-width of the 95 % interval (NaN with one seed).
    #[serde(deserialize_with = "nan_when_null")]
    pub half_width: f64,
}

impl Estimate {
    /// The mean and interval of `values`.
    pub fn of(values: &[f64]) -> Estimate {
        let n = values.len();
        if n == 0 {
            return Estimate { mean: f64::NAN, half_width: f64::NAN };
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        if n == 1 {
            return Estimate { mean, half_width: f64::NAN };
        }
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        Estimate { mean, half_width: t975(n - 1) * (var / n as f64).sqrt() }
    }
}

/// One policy under one behaviour, over every seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicySummary {
    /// The policy.
    pub policy: String,
    /// The behaviour.
    pub behaviour: String,
    /// Seeds run.
    pub seeds: usize,
    /// Each measure: name, estimate.
    pub metrics: Vec<(String, Estimate)>,
    /// Diversification points per young person relative to the baseline's, minus 1 (paired by seed).
    pub points_gain: Estimate,
    /// Bookings per young person relative to the baseline's, minus 1 (paired by seed).
    pub bookings_change: Estimate,
    /// The mission ratio: relative diversification gained per relative booking lost (∞ when none is lost,
    /// as `null` in JSON).
    pub mission_ratio: Option<f64>,
    /// Whether the target holds: ≥ +25 % points and ≥ −5 % bookings, on the means.
    pub meets_target: bool,
    /// Lists served per run, mean.
    pub lists: f64,
    /// User-weeks simulated per second, mean.
    pub user_weeks_per_s: f64,
}

impl PolicySummary {
    /// The estimate of a measure.
    pub fn get(&self, name: &str) -> Option<Estimate> {
        self.metrics.iter().find(|(n, _)| n == name).map(|(_, e)| *e)
    }
}

/// Summaries of `runs` (every policy × seed of one behaviour), compared with `baseline`'s runs of the same
/// seeds.
pub fn summarise(runs: &[RunOutcome], baseline: &str) -> Vec<PolicySummary> {
    let mut policies: Vec<&str> = Vec::new();
    for r in runs {
        if !policies.contains(&r.policy.as_str()) {
            policies.push(&r.policy);
        }
    }
    let base: Vec<&RunOutcome> = runs.iter().filter(|r| r.policy == baseline).collect();
    let base_of = |seed: u64| base.iter().find(|r| r.seed == seed).map(|r| r.metrics);
    policies
        .into_iter()
        .map(|p| {
            let mine: Vec<&RunOutcome> = runs.iter().filter(|r| r.policy == p).collect();
            let names = Metrics::default().fields().map(|(n, _)| n);
            let metrics = names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    ((*n).to_owned(), Estimate::of(&mine.iter().map(|r| r.metrics.fields()[i].1).collect::<Vec<_>>()))
                })
                .collect();
            let paired = |f: &dyn Fn(&Metrics) -> f64| -> Estimate {
                let v: Vec<f64> = mine
                    .iter()
                    .filter_map(|r| base_of(r.seed).map(|b| f(&r.metrics) / f(&b).max(1e-12) - 1.0))
                    .collect();
                Estimate::of(&v)
            };
            let points_gain = paired(&|m| m.points);
            let bookings_change = paired(&|m| m.bookings);
            let mission_ratio = (bookings_change.mean < 0.0).then(|| points_gain.mean / -bookings_change.mean);
            PolicySummary {
                policy: p.to_owned(),
                behaviour: mine.first().map(|r| r.behaviour.clone()).unwrap_or_default(),
                seeds: mine.len(),
                metrics,
                points_gain,
                bookings_change,
                mission_ratio,
                meets_target: points_gain.mean >= 0.25 && bookings_change.mean >= -0.05,
                lists: mine.iter().map(|r| r.lists as f64).sum::<f64>() / mine.len().max(1) as f64,
                user_weeks_per_s: mine.iter().map(|r| r.user_weeks_per_s).sum::<f64>() / mine.len().max(1) as f64,
            }
        })
        .collect()
}

/// The league table of one behaviour, as Markdown.
pub fn table(summaries: &[PolicySummary]) -> String {
    let mut out = String::from(
        "| policy | bookings / person | points / person | points vs λ=0 | bookings vs λ=0 | mission ratio | points / booking | categories | entered new | followed through | credit spent | offer coverage | offer Gini |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let pm = |e: Option<Estimate>, digits: usize| match e {
        Some(e) if e.half_width.is_nan() => format!("{:.*}", digits, e.mean),
        Some(e) => format!("{:.*} ± {:.*}", digits, e.mean, digits, e.half_width),
        None => "–".into(),
    };
    let pct = |e: Estimate| {
        if e.half_width.is_nan() {
            format!("{:+.1} %", 100.0 * e.mean)
        } else {
            format!("{:+.1} ± {:.1} %", 100.0 * e.mean, 100.0 * e.half_width)
        }
    };
    for s in summaries {
        let ratio = match s.mission_ratio {
            Some(r) => format!("{r:.2}"),
            None if s.points_gain.mean > 0.0 => "∞ (no loss)".into(),
            None => "–".into(),
        };
        out.push_str(&format!(
            "| {}{} | {} | {} | {} | {} | {ratio} | {} | {} | {} | {} | {} | {} | {} |\n",
            s.policy,
            if s.meets_target { " ✔" } else { "" },
            pm(s.get("bookings"), 3),
            pm(s.get("points"), 3),
            pct(s.points_gain),
            pct(s.bookings_change),
            pm(s.get("points_per_booking"), 2),
            pm(s.get("categories"), 3),
            pm(s.get("entered"), 3),
            pm(s.get("followed"), 3),
            pm(s.get("credit_spent"), 3),
            pm(s.get("offer_coverage"), 4),
            pm(s.get("offer_gini"), 3),
        ));
    }
    out
}

/// Every run of a league study and its summaries, per behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeagueStudy {
    /// Weeks simulated.
    pub weeks: u32,
    /// Young people followed per run.
    pub users: usize,
    /// The seeds.
    pub seeds: Vec<u64>,
    /// The baseline policy.
    pub baseline: String,
    /// Every run.
    pub runs: Vec<RunOutcome>,
    /// Per behaviour (in the order given), the policies' summaries.
    pub behaviours: Vec<(String, Vec<PolicySummary>)>,
    /// Policies that meet the target under every behaviour.
    pub winners: Vec<String>,
}

/// Runs every policy of `league` under every behaviour with every seed; `done` hears of each run.
pub fn run_league(
    study: &mut crate::Study<'_>,
    league: &crate::League,
    behaviours: &[crate::Behaviour],
    seeds: &[u64],
    weeks: u32,
    done: &mut dyn FnMut(&RunOutcome),
) -> crate::Result<LeagueStudy> {
    let mut runs = Vec::new();
    let mut per_behaviour = Vec::new();
    for b in behaviours {
        let mut mine = Vec::new();
        for p in &league.policies {
            for &seed in seeds {
                let r = study.run(p, b, seed)?;
                done(&r);
                mine.push(r);
            }
        }
        per_behaviour.push((b.name.clone(), summarise(&mine, &league.baseline)));
        runs.extend(mine);
    }
    let winners = league
        .policies
        .iter()
        .filter(|p| per_behaviour.iter().all(|(_, s)| s.iter().any(|x| x.policy == p.name && x.meets_target)))
        .map(|p| p.name.clone())
        .collect();
    Ok(LeagueStudy {
        weeks,
        users: study.users(),
        seeds: seeds.to_vec(),
        baseline: league.baseline.clone(),
        runs,
        behaviours: per_behaviour,
        winners,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_follow_students_t() {
        let e = Estimate::of(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(e.mean, 3.0);
        // sd = √2.5, n = 5, t(4) = 2.776.
        assert!((e.half_width - 2.776 * (2.5f64 / 5.0).sqrt()).abs() < 1e-12);
        assert!(Estimate::of(&[2.0]).half_width.is_nan());
        assert_eq!(t975(1000), 1.96);
    }

    fn run(policy: &str, seed: u64, bookings: f64, points: f64) -> RunOutcome {
        RunOutcome {
            policy: policy.into(),
            behaviour: "b".into(),
            seed,
            users: 10,
            lists: 1,
            user_weeks_per_s: 1.0,
            seconds: 1.0,
            metrics: Metrics { bookings, points, ..Metrics::default() },
            violations: Vec::new(),
            logged: Vec::new(),
        }
    }

    #[test]
    fn gains_are_paired_by_seed_and_the_target_is_judged_on_the_means() {
        let runs = vec![
            run("base", 1, 4.0, 2.0),
            run("base", 2, 2.0, 1.0),
            run("div", 1, 3.9, 2.6),
            run("div", 2, 1.9, 1.3),
            run("loses", 1, 3.0, 3.0),
            run("loses", 2, 1.5, 1.5),
        ];
        let s = summarise(&runs, "base");
        let div = s.iter().find(|x| x.policy == "div").unwrap();
        assert!((div.points_gain.mean - 0.3).abs() < 1e-12);
        assert!((div.bookings_change.mean - (-0.1 / 4.0 - 0.1 / 2.0) / 2.0).abs() < 1e-12);
        assert!(div.meets_target);
        let loses = s.iter().find(|x| x.policy == "loses").unwrap();
        assert!(!loses.meets_target, "−25 % bookings");
        assert!((loses.mission_ratio.unwrap() - 0.5 / 0.25).abs() < 1e-12);
        let base = s.iter().find(|x| x.policy == "base").unwrap();
        assert_eq!(base.points_gain.mean, 0.0);
        assert!(!base.meets_target);
        assert!(table(&s).contains("| div ✔ |"));
    }

    #[test]
    fn the_default_league_parses_with_its_baseline() {
        let league = crate::League::default_league();
        assert!(league.names().contains(&league.baseline));
        assert!(league.policies.len() >= 12);
        let e = crate::League::parse("baseline = \"x\"\n[[policy]]\nname = \"y\"\n").unwrap_err();
        assert!(e.contains("baseline"), "{e}");
        let e = crate::League::parse("baseline = \"y\"\n[[policy]]\nname = \"y\"\nlamda = 1.0\n").unwrap_err();
        assert!(e.contains("lamda"), "{e}");
    }
}
