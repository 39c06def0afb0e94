//! The encoder against the Python sentence-transformers library, and its errors.

use passeur_embed::{EmbedError, EncoderConfig, TextEncoder, offer_text, text_key};
use std::path::PathBuf;

fn model_dir() -> PathBuf {
    std::env::var_os("PASSEUR_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2"))
}

fn encoder(batch_size: usize) -> TextEncoder {
    TextEncoder::load(&model_dir(), EncoderConfig { batch_size, ..EncoderConfig::default() })
        .unwrap_or_else(|e| panic!("{e} (scripts/test.sh runs scripts/fetch-assets.sh first)"))
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn vectors_match_python_sentence_transformers() {
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("reference/all-MiniLM-L6-v2.json")).expect("reference file");
    let sentences: Vec<&str> = reference["sentences"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    let expected: Vec<Vec<f32>> = reference["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect())
        .collect();
    assert!(sentences.len() >= 10);
    // Several batch sizes: padding and length bucketing must not change any vector.
    for batch_size in [1, 4, 32] {
        let encoder = encoder(batch_size);
        assert_eq!(encoder.dimension(), 384);
        let got = encoder.encode(&sentences).unwrap();
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            let c = cosine(g, e);
            assert!(c >= 0.9999, "batch {batch_size}, sentence {i} {:?}: cosine {c}", sentences[i]);
            let norm: f64 = g.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "sentence {i} not normalised: {norm}");
        }
    }
}

#[test]
fn a_missing_or_corrupt_model_folder_says_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    match TextEncoder::load(tmp.path(), EncoderConfig::default()) {
        Err(e @ EmbedError::MissingModelFile { file: "config.json", .. }) => {
            assert!(e.to_string().contains("scripts/fetch-assets.sh"), "{e}");
        }
        other => panic!("expected a missing config.json, got {other:?}"),
    }
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(model_dir().join(f), tmp.path().join(f)).unwrap();
    }
    std::fs::create_dir_all(tmp.path().join("1_Pooling")).unwrap();
    std::fs::copy(model_dir().join("1_Pooling/config.json"), tmp.path().join("1_Pooling/config.json")).unwrap();
    assert!(matches!(
        TextEncoder::load(tmp.path(), EncoderConfig::default()),
        Err(EmbedError::MissingModelFile { file: "model.safetensors", .. })
    ));
    std::fs::write(tmp.path().join("model.safetensors"), b"not safetensors").unwrap();
    assert!(matches!(
        TextEncoder::load(tmp.path(), EncoderConfig::default()),
        Err(EmbedError::CorruptModel { file: "model.safetensors", .. })
    ));
}

#[test]
fn cache_keys_depend_on_model_and_text() {
    assert_eq!(text_key("m", "a"), text_key("m", "a"));
    assert_ne!(text_key("m", "a"), text_key("m2", "a"));
    assert_ne!(text_key("m", "ab"), text_key("m", "a"));
    assert_eq!(text_key("m", "a").len(), 64);
    let _ = offer_text;
}
