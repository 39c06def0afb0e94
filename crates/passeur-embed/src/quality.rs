//! How well a text model understands French offers: each French sentence of a test set is matched
//! against its English translation and a French paraphrase, among every other sentence's and a
//! set of unrelated distractors (`quality/fr-en-paraphrases.tsv`, written for passeur).

use crate::encoder::TextEncoder;
use crate::error::{EmbedError, Result};

/// One French sentence with its English translation and a French paraphrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Triple {
    /// The French sentence.
    pub french: String,
    /// Its English translation.
    pub english: String,
    /// The same meaning in other French words.
    pub paraphrase: String,
}

/// A test set: triples, and sentences unrelated to all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairSet {
    /// The matched sentences.
    pub triples: Vec<Triple>,
    /// Unrelated sentences, candidates for every query.
    pub distractors: Vec<String>,
}

/// What [`evaluate`] measured for one model.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityReport {
    /// The model's id.
    pub model_id: String,
    /// Triples evaluated.
    pub triples: usize,
    /// Share of French sentences whose nearest English candidate is their translation.
    pub top1_translation: f64,
    /// Share of French sentences whose nearest French candidate is their paraphrase.
    pub top1_paraphrase: f64,
    /// Probability that a matched pair (translation or paraphrase) scores above an unrelated one.
    pub auc: f64,
    /// Mean cosine of matched pairs.
    pub mean_matched: f64,
    /// Mean cosine of unrelated pairs.
    pub mean_unrelated: f64,
    /// Cosine of "Atelier de poterie" and "Pottery workshop" (the example).
    pub pottery: f64,
}

impl PairSet {
    /// The built-in French test set (40 triples, 10 distractors).
    pub fn builtin() -> PairSet {
        PairSet::parse(include_str!("../quality/fr-en-paraphrases.tsv")).expect("the built-in test set parses")
    }

    /// Reads the format of the built-in file: `#` comments, a `french\tenglish\tparaphrase`
    /// header and rows, then a `distractor` header and one sentence per line.
    pub fn parse(text: &str) -> Result<PairSet> {
        let bad = |line: usize, reason: String| EmbedError::BadTestSet { line, reason };
        let mut set = PairSet { triples: Vec::new(), distractors: Vec::new() };
        let mut section = None;
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            match (line, section) {
                ("french\tenglish\tparaphrase", _) => section = Some(true),
                ("distractor", _) => section = Some(false),
                (_, Some(true)) => {
                    let cols: Vec<&str> = line.split('\t').collect();
                    let [french, english, paraphrase] = cols[..] else {
                        return Err(bad(
                            n,
                            format!("{} columns, expected 3 (french, english, paraphrase)", cols.len()),
                        ));
                    };
                    if [french, english, paraphrase].iter().any(|c| c.trim().is_empty()) {
                        return Err(bad(n, "an empty column".into()));
                    }
                    set.triples.push(Triple {
                        french: french.into(),
                        english: english.into(),
                        paraphrase: paraphrase.into(),
                    });
                }
                (_, Some(false)) => set.distractors.push(line.to_owned()),
                (_, None) => return Err(bad(n, "a row before the `french\\tenglish\\tparaphrase` header".into())),
            }
        }
        if set.triples.len() < 2 {
            return Err(bad(0, format!("{} triples: at least 2 are needed", set.triples.len())));
        }
        Ok(set)
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na * nb) }
}

/// The area under the ROC curve of `positives` against `negatives` (ties count half), by counting pairs.
pub fn auc(positives: &[f64], negatives: &[f64]) -> f64 {
    let mut wins = 0.0;
    for p in positives {
        for n in negatives {
            wins += match p.partial_cmp(n) {
                Some(std::cmp::Ordering::Greater) => 1.0,
                Some(std::cmp::Ordering::Equal) => 0.5,
                _ => 0.0,
            };
        }
    }
    wins / (positives.len() * negatives.len()).max(1) as f64
}

/// Embeds every sentence as a passage and measures top-1 matching and AUC.
pub fn evaluate(encoder: &TextEncoder, set: &PairSet) -> Result<QualityReport> {
    let n = set.triples.len();
    let mut texts: Vec<&str> = Vec::with_capacity(3 * n + set.distractors.len() + 2);
    texts.extend(set.triples.iter().map(|t| t.french.as_str()));
    texts.extend(set.triples.iter().map(|t| t.english.as_str()));
    texts.extend(set.triples.iter().map(|t| t.paraphrase.as_str()));
    texts.extend(set.distractors.iter().map(String::as_str));
    texts.extend(["Atelier de poterie", "Pottery workshop"]);
    let v = encoder.encode(&texts)?;
    let (french, rest) = v.split_at(n);
    let (english, rest) = rest.split_at(n);
    let (paraphrase, rest) = rest.split_at(n);
    let (distractors, pottery) = rest.split_at(set.distractors.len());
    let (mut positives, mut negatives) = (Vec::new(), Vec::new());
    let (mut hits_translation, mut hits_paraphrase) = (0usize, 0usize);
    for (i, f) in french.iter().enumerate() {
        let against_distractors: Vec<f64> = distractors.iter().map(|d| cosine(f, d)).collect();
        for (targets, hits) in [(english, &mut hits_translation), (paraphrase, &mut hits_paraphrase)] {
            let scores: Vec<f64> = targets.iter().map(|t| cosine(f, t)).collect();
            let best_other =
                scores.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, s)| *s).chain(against_distractors.clone());
            if best_other.fold(f64::NEG_INFINITY, f64::max) < scores[i] {
                *hits += 1;
            }
            positives.push(scores[i]);
            negatives.extend(scores.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, s)| *s));
        }
        negatives.extend(against_distractors);
    }
    let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len().max(1) as f64;
    Ok(QualityReport {
        model_id: encoder.model_id().to_owned(),
        triples: n,
        top1_translation: hits_translation as f64 / n as f64,
        top1_paraphrase: hits_paraphrase as f64 / n as f64,
        auc: auc(&positives, &negatives),
        mean_matched: mean(&positives),
        mean_unrelated: mean(&negatives),
        pottery: cosine(&pottery[0], &pottery[1]),
    })
}
