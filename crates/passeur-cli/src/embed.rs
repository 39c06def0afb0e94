//! `passeur embed`: text embeddings of offers.

use crate::progress;
use anyhow::{Result, bail};
use passeur_embed::{EncoderConfig, LongTexts, TextEncoder, embed_offers};
use passeur_store::SqliteStore;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Arguments of `passeur embed`.
#[derive(Debug, clap::Args)]
pub struct EmbedArgs {
    /// A sentence-transformers folder (config.json, tokenizer.json, model.safetensors, 1_Pooling/config.json):
    /// multilingual-e5-small for French catalogues, or e.g. models/all-MiniLM-L6-v2.
    #[arg(long, env = "PASSEUR_MODEL_DIR", default_value = "models/multilingual-e5-small")]
    model_dir: PathBuf,
    /// Windows per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Tokens per window; 0: the model's max_seq_length.
    #[arg(long, default_value_t = 0)]
    max_tokens: usize,
    /// A text longer than a window: windows (every window, averaged by tokens) or truncate (the first).
    #[arg(long, default_value = "windows", value_parser = ["windows", "truncate"])]
    long_texts: String,
}

pub fn run(data_dir: &Path, args: &EmbedArgs) -> Result<ExitCode> {
    if !data_dir.join(SqliteStore::FILE_NAME).exists() {
        bail!("no record store in {}; run `passeur import` or `passeur demo` first", data_dir.display());
    }
    let long_texts = if args.long_texts == "truncate" { LongTexts::Truncate } else { LongTexts::Windows };
    let encoder = TextEncoder::load(
        &args.model_dir,
        EncoderConfig { batch_size: args.batch_size, max_tokens: args.max_tokens, long_texts },
    )?;
    let mut store = SqliteStore::open(data_dir)?;
    let bar = progress::bar(0, "embedding");
    let started = Instant::now();
    let report = embed_offers(&mut store, &encoder, 512, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    out!(
        "model {} ({} dimensions): {} offers, {} unchanged, {} from the cache, {} texts encoded in {seconds:.1} s ({:.0} texts/s)",
        encoder.model_id(),
        encoder.dimension(),
        report.offers,
        report.unchanged,
        report.from_cache,
        report.encoded_texts,
        report.encoded_texts as f64 / seconds.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
