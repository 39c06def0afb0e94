//! Embedding every offer of a record store, incrementally.

use crate::encoder::TextEncoder;
use crate::error::Result;
use crate::text::{offer_text, text_key};
use passeur_store::RecordStore;
use std::collections::{BTreeMap, HashMap};

/// What [`embed_offers`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbedReport {
    /// Offers in the store.
    pub offers: usize,
    /// Offers whose text had not changed since the last run: nothing to do.
    pub unchanged: usize,
    /// Offers whose (new) text was already in the cache, e.g. shared with another offer.
    pub from_cache: usize,
    /// Distinct texts the model encoded.
    pub encoded_texts: usize,
}

/// Embeds the text of every offer whose text changed (or is new) since the
/// last run with this model. Texts are keyed by [`text_key`]: a text shared by
/// several offers is encoded once, and a text already cached is not encoded
/// again. Results are committed every `chunk` texts, so an interrupted run
/// resumes where it stopped. `progress(done, total)` counts texts to encode.
pub fn embed_offers(
    store: &mut dyn RecordStore,
    encoder: &TextEncoder,
    chunk: usize,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<EmbedReport> {
    let model = encoder.model_id().to_owned();
    let known = store.offer_embedding_keys(&model)?;
    let mut report = EmbedReport::default();
    // Key → its text, and the offers that need it; in key order, so runs are reproducible.
    let mut wanted: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    store.scan_offers(&mut |offer| {
        report.offers += 1;
        let text = offer_text(&offer);
        let key = text_key(&model, &text);
        if known.get(&offer.id) == Some(&key) {
            report.unchanged += 1;
        } else {
            wanted.entry(key).or_insert_with(|| (text, Vec::new())).1.push(offer.id);
        }
        Ok(())
    })?;
    let keys: Vec<String> = wanted.keys().cloned().collect();
    let cached: HashMap<String, Vec<f32>> = store.cached_embeddings(&keys)?;
    let mut mapping: Vec<(String, String)> = Vec::new();
    let mut to_encode: Vec<(String, String, Vec<String>)> = Vec::new();
    for (key, (text, offers)) in wanted {
        if cached.contains_key(&key) {
            report.from_cache += offers.len();
            mapping.extend(offers.into_iter().map(|o| (o, key.clone())));
        } else {
            to_encode.push((key, text, offers));
        }
    }
    if !mapping.is_empty() {
        store.put_embeddings(&model, &[], &mapping)?;
    }
    let total = to_encode.len() as u64;
    let mut done = 0u64;
    progress(0, total);
    for batch in to_encode.chunks(chunk.max(1)) {
        let texts: Vec<&str> = batch.iter().map(|(_, t, _)| t.as_str()).collect();
        let vectors = encoder.encode(&texts)?;
        let entries: Vec<(String, Vec<f32>)> = batch.iter().zip(vectors).map(|((k, _, _), v)| (k.clone(), v)).collect();
        let offers: Vec<(String, String)> =
            batch.iter().flat_map(|(k, _, offers)| offers.iter().map(move |o| (o.clone(), k.clone()))).collect();
        store.put_embeddings(&model, &entries, &offers)?;
        report.encoded_texts += batch.len();
        done += batch.len() as u64;
        progress(done, total);
    }
    Ok(report)
}
