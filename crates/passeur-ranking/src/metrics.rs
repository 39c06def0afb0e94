//! Offline quality of probability models: ROC AUC, log-loss and calibration.

use serde::Serialize;

/// Area under the ROC curve: the probability that a random positive scores
/// above a random negative (ties count half). `None` with one class only.
pub fn auc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let positives = labels.iter().filter(|l| **l).count() as f64;
    let negatives = labels.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    // Sum of the positives' mid-ranks (1-based), ties sharing their mean rank.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += order[i..=j].iter().filter(|&&k| labels[k]).count() as f64 * mid;
        i = j + 1;
    }
    Some((rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives))
}

/// Mean negative log-likelihood (natural log), probabilities clipped to [1e-7, 1 − 1e-7].
pub fn log_loss(probabilities: &[f32], labels: &[bool]) -> f64 {
    let n = probabilities.len().max(1) as f64;
    probabilities
        .iter()
        .zip(labels)
        .map(|(p, y)| {
            let p = f64::from(*p).clamp(1e-7, 1.0 - 1e-7);
            if *y { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum::<f64>()
        / n
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bin {
    /// Examples in the bin.
    pub count: usize,
    /// Mean predicted probability.
    pub predicted: f64,
    /// Observed rate of positives.
    pub observed: f64,
}

/// Calibration: equal-mass bins of the predictions, and the expected calibration error
/// (Σ bin share × |predicted − observed|).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    /// Bins by increasing prediction.
    pub bins: Vec<Bin>,
    /// Expected calibration error.
    pub ece: f64,
    /// Mean prediction.
    pub mean_predicted: f64,
    /// Rate of positives.
    pub mean_observed: f64,
}

/// Splits the predictions into `bins` equal-mass bins.
pub fn calibration(probabilities: &[f32], labels: &[bool], bins: usize) -> Calibration {
    let n = probabilities.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]));
    let bins = bins.clamp(1, n.max(1));
    let mut out = Vec::with_capacity(bins);
    let mut ece = 0.0;
    for b in 0..bins {
        let (from, to) = (b * n / bins, (b + 1) * n / bins);
        if from == to {
            continue;
        }
        let slice = &order[from..to];
        let predicted = slice.iter().map(|&i| f64::from(probabilities[i])).sum::<f64>() / slice.len() as f64;
        let observed = slice.iter().filter(|&&i| labels[i]).count() as f64 / slice.len() as f64;
        ece += slice.len() as f64 / n as f64 * (predicted - observed).abs();
        out.push(Bin { count: slice.len(), predicted, observed });
    }
    Calibration {
        bins: out,
        ece,
        mean_predicted: probabilities.iter().map(|p| f64::from(*p)).sum::<f64>() / n.max(1) as f64,
        mean_observed: labels.iter().filter(|l| **l).count() as f64 / n.max(1) as f64,
    }
}

/// A head's held-out quality.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeadQuality {
    /// `p_click` or `p_booking`.
    pub head: String,
    /// Held-out impressions.
    pub examples: usize,
    /// Positives among them.
    pub positives: usize,
    /// ROC AUC.
    pub auc: Option<f64>,
    /// Log-loss of the model.
    pub log_loss: f64,
    /// Log-loss of the constant prediction at the training rate (the baseline to beat).
    pub baseline_log_loss: f64,
    /// Reliability.
    pub calibration: Calibration,
}

impl HeadQuality {
    /// Measures scores that are not probabilities (the 2023 regression) against labels: AUC only
    /// (log-losses are NaN, the reliability table empty).
    pub fn measure_scores(head: &str, scores: &[f32], labels: &[bool]) -> HeadQuality {
        HeadQuality {
            head: head.to_owned(),
            examples: labels.len(),
            positives: labels.iter().filter(|l| **l).count(),
            auc: auc(scores, labels),
            log_loss: f64::NAN,
            baseline_log_loss: f64::NAN,
            calibration: calibration(&[], &[], 10),
        }
    }

    /// Measures predictions against labels; `base_rate` is the training rate of positives.
    pub fn measure(head: &str, predicted: &[f32], labels: &[bool], base_rate: f64) -> HeadQuality {
        let constant = vec![base_rate as f32; labels.len()];
        HeadQuality {
            head: head.to_owned(),
            examples: labels.len(),
            positives: labels.iter().filter(|l| **l).count(),
            auc: auc(predicted, labels),
            log_loss: log_loss(predicted, labels),
            baseline_log_loss: log_loss(&constant, labels),
            calibration: calibration(predicted, labels, 10),
        }
    }
}
