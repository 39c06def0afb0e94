//! `passeur bench embed`: text embedding throughput on the synthetic world's offer texts for each
//! model, the French quality check for each, and Python sentence-transformers on the same texts and
//! threads in the same run (when a Python with it is found).

use anyhow::{Context, Result};
use passeur_embed::quality::{PairSet, evaluate};
use passeur_embed::{EncoderConfig, TextEncoder, offer_text};
use passeur_synth::{Scale, World, WorldConfig};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `passeur bench embed`.
#[derive(Debug, Clone)]
pub struct EmbedBench {
    /// World whose offer texts are embedded.
    pub scale: Scale,
    /// Its seed.
    pub seed: u64,
    /// Distinct texts (the first ones of the world's offers, in order).
    pub texts: usize,
    /// Model folders.
    pub models: Vec<PathBuf>,
    /// Windows per forward pass.
    pub batch_size: usize,
    /// A Python with sentence-transformers (default: `python3` when it imports it), or "none".
    pub python: Option<String>,
}

fn world_texts(scale: Scale, seed: u64, limit: usize) -> Vec<String> {
    let world = World::generate(WorldConfig::for_scale(scale, seed));
    let mut seen = std::collections::HashSet::new();
    world.offers.iter().map(offer_text).filter(|t| seen.insert(t.clone())).take(limit).collect()
}

fn python_with_sentence_transformers(wanted: Option<&str>) -> Option<String> {
    let candidate = match wanted {
        Some("none") => return None,
        Some(p) => p.to_owned(),
        None => "python3".to_owned(),
    };
    let ok = std::process::Command::new(&candidate)
        .args(["-c", "import sentence_transformers, torch"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(candidate)
}

pub fn run(data_dir: &Path, args: &EmbedBench) -> Result<ExitCode> {
    let texts = world_texts(args.scale, args.seed, args.texts);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    out!("{} distinct offer texts of the {:?} world (seed {}), {threads} threads", refs.len(), args.scale, args.seed);
    let set = PairSet::builtin();
    let mut rates: Vec<(String, f64)> = Vec::new();
    out!(
        "{:<34} {:>9} {:>9} {:>11} {:>9} | {:>7} {:>7} {:>7} {:>6} {:>8}",
        "model",
        "texts/s",
        "tokens/s",
        "tokenising",
        "seconds",
        "top1 en",
        "top1 fr",
        "AUC",
        "pottery",
        "matched"
    );
    for dir in &args.models {
        let encoder = TextEncoder::load(dir, EncoderConfig { batch_size: args.batch_size, ..EncoderConfig::default() })
            .with_context(|| format!("loading {}", dir.display()))?;
        encoder.encode(&refs[..refs.len().min(32)])?; // warm-up: allocations, thread pool
        let t = encoder.throughput(&refs)?;
        let q = evaluate(&encoder, &set)?;
        out!(
            "{:<34} {:>9.1} {:>9.0} {:>10.1}% {:>9.1} | {:>7.3} {:>7.3} {:>7.4} {:>6.3} {:>8.3}",
            encoder.model_id(),
            t.texts_per_second(),
            t.tokens as f64 / t.seconds,
            100.0 * t.tokenize_seconds / t.seconds,
            t.seconds,
            q.top1_translation,
            q.top1_paraphrase,
            q.auc,
            q.pottery,
            q.mean_matched
        );
        rates.push((dir.file_name().and_then(|n| n.to_str()).unwrap_or("model").to_owned(), t.texts_per_second()));
    }
    match python_with_sentence_transformers(args.python.as_deref()) {
        None => out!("python sentence-transformers: not found (pass --python PY); no baseline in this run"),
        Some(python) => {
            let file = data_dir.join("bench-embed-texts.json");
            std::fs::create_dir_all(data_dir)?;
            std::fs::write(&file, serde_json::to_vec(&texts)?)?;
            for dir in &args.models {
                let output = std::process::Command::new(&python)
                    .arg("scripts/bench_python_embed.py")
                    .arg("--model")
                    .arg(dir)
                    .arg("--texts")
                    .arg(&file)
                    .arg("--threads")
                    .arg(threads.to_string())
                    .arg("--batch-size")
                    .arg(args.batch_size.to_string())
                    .output()
                    .context("running scripts/bench_python_embed.py")?;
                if !output.status.success() {
                    out!(
                        "python sentence-transformers on {}: failed: {}",
                        dir.display(),
                        String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or("")
                    );
                    continue;
                }
                let report: serde_json::Value =
                    serde_json::from_slice(&output.stdout).context("scripts/bench_python_embed.py printed no JSON")?;
                let python_rate = report["texts_per_second"].as_f64().unwrap_or(f64::NAN);
                let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("model");
                let ours = rates.iter().find(|(n, _)| n == name).map_or(f64::NAN, |(_, r)| *r);
                out!(
                    "python sentence-transformers {} (torch {}, {} threads) on {name}: {python_rate:.1} texts/s; passeur/python = {:.2}×",
                    report["sentence_transformers"].as_str().unwrap_or("?"),
                    report["torch"].as_str().unwrap_or("?"),
                    threads,
                    ours / python_rate
                );
            }
            let _ = std::fs::remove_file(&file);
        }
    }
    Ok(ExitCode::SUCCESS)
}
