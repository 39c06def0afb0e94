//! A 2-D map of item vectors: exact t-SNE (van der Maaten & Hinton, 2008) on
//! a sample, and an SVG scatter coloured by category.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use std::fmt::Write as _;

/// t-SNE settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TsneConfig {
    /// Effective number of neighbours.
    pub perplexity: f64,
    /// Gradient steps.
    pub iterations: usize,
    /// Step size.
    pub learning_rate: f64,
    /// Seed of the initial layout.
    pub seed: u64,
}

impl Default for TsneConfig {
    fn default() -> Self {
        TsneConfig { perplexity: 30.0, iterations: 750, learning_rate: 200.0, seed: 42 }
    }
}

/// Input affinities P (symmetric, summing to 1) from squared distances, with
/// each point's bandwidth found by bisection to match the perplexity.
fn affinities(points: &[f32], dim: usize, perplexity: f64) -> Vec<f64> {
    let n = points.len() / dim;
    let target = perplexity.ln();
    let rows: Vec<Vec<f64>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let pi = &points[i * dim..(i + 1) * dim];
            let d: Vec<f64> = (0..n)
                .map(|j| {
                    let pj = &points[j * dim..(j + 1) * dim];
                    pi.iter().zip(pj).map(|(a, b)| f64::from(a - b).powi(2)).sum()
                })
                .collect();
            let (mut lo, mut hi, mut beta) = (0.0f64, f64::INFINITY, 1.0f64);
            let mut p = vec![0.0; n];
            for _ in 0..64 {
                let mut sum = 0.0;
                for (j, (pj, dj)) in p.iter_mut().zip(&d).enumerate() {
                    *pj = if j == i { 0.0 } else { (-beta * dj).exp() };
                    sum += *pj;
                }
                let sum = sum.max(1e-300);
                let mut entropy = 0.0;
                for pj in p.iter_mut() {
                    *pj /= sum;
                    if *pj > 1e-300 {
                        entropy -= *pj * pj.ln();
                    }
                }
                if (entropy - target).abs() < 1e-5 {
                    break;
                }
                if entropy > target {
                    lo = beta;
                    beta = if hi.is_finite() { (beta + hi) / 2.0 } else { beta * 2.0 };
                } else {
                    hi = beta;
                    beta = (beta + lo) / 2.0;
                }
            }
            p
        })
        .collect();
    let mut sym = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            sym[i * n + j] = ((rows[i][j] + rows[j][i]) / (2.0 * n as f64)).max(1e-12);
        }
    }
    sym
}

/// Projects `points` (row-major, `dim` columns) to 2-D.
pub fn tsne(points: &[f32], dim: usize, config: TsneConfig) -> Vec<[f64; 2]> {
    let n = points.len() / dim;
    if n < 3 {
        return vec![[0.0, 0.0]; n];
    }
    let perplexity = config.perplexity.min((n as f64 - 1.0) / 3.0).max(1.0);
    let p = affinities(points, dim, perplexity);
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let normal = Normal::new(0.0, 1e-4).expect("positive std");
    let mut y: Vec<[f64; 2]> = (0..n).map(|_| [normal.sample(&mut rng), normal.sample(&mut rng)]).collect();
    let mut velocity = vec![[0.0f64; 2]; n];
    let mut gains = vec![[1.0f64; 2]; n];
    for it in 0..config.iterations {
        let exaggeration = if it < 100 { 12.0 } else { 1.0 };
        let momentum = if it < 250 { 0.5 } else { 0.8 };
        // Student-t kernel and its normaliser.
        let rows: Vec<(Vec<f64>, f64)> = (0..n)
            .into_par_iter()
            .map(|i| {
                let mut q = vec![0.0; n];
                let mut s = 0.0;
                for j in 0..n {
                    if j != i {
                        let dx = y[i][0] - y[j][0];
                        let dy = y[i][1] - y[j][1];
                        q[j] = 1.0 / (1.0 + dx * dx + dy * dy);
                        s += q[j];
                    }
                }
                (q, s)
            })
            .collect();
        let z: f64 = rows.iter().map(|r| r.1).sum();
        let grads: Vec<[f64; 2]> = (0..n)
            .into_par_iter()
            .map(|i| {
                let mut g = [0.0; 2];
                for j in 0..n {
                    if j == i {
                        continue;
                    }
                    let w = rows[i].0[j];
                    let m = (exaggeration * p[i * n + j] - w / z) * w;
                    g[0] += 4.0 * m * (y[i][0] - y[j][0]);
                    g[1] += 4.0 * m * (y[i][1] - y[j][1]);
                }
                g
            })
            .collect();
        for i in 0..n {
            for c in 0..2 {
                let same_sign = (grads[i][c] > 0.0) == (velocity[i][c] > 0.0);
                gains[i][c] = if same_sign { (gains[i][c] * 0.8f64).max(0.01) } else { gains[i][c] + 0.2 };
                velocity[i][c] = momentum * velocity[i][c] - config.learning_rate * gains[i][c] * grads[i][c];
                y[i][c] += velocity[i][c];
            }
        }
        let mean = [y.iter().map(|v| v[0]).sum::<f64>() / n as f64, y.iter().map(|v| v[1]).sum::<f64>() / n as f64];
        y.iter_mut().for_each(|v| {
            v[0] -= mean[0];
            v[1] -= mean[1];
        });
    }
    y
}

/// The Kullback-Leibler divergence KL(P‖Q) of a layout, for tests and reports.
pub fn kl_divergence(points: &[f32], dim: usize, layout: &[[f64; 2]], perplexity: f64) -> f64 {
    let n = layout.len();
    let p = affinities(points, dim, perplexity);
    let mut q = vec![0.0; n * n];
    let mut z = 0.0;
    for i in 0..n {
        for j in 0..n {
            if i != j {
                let dx = layout[i][0] - layout[j][0];
                let dy = layout[i][1] - layout[j][1];
                q[i * n + j] = 1.0 / (1.0 + dx * dx + dy * dy);
                z += q[i * n + j];
            }
        }
    }
    let mut kl = 0.0;
    for i in 0..n {
        for j in 0..n {
            if i != j {
                let qij = (q[i * n + j] / z).max(1e-12);
                kl += p[i * n + j] * (p[i * n + j] / qij).ln();
            }
        }
    }
    kl
}

/// An SVG scatter of a layout, one colour per label, with a legend.
pub fn scatter_svg(layout: &[[f64; 2]], labels: &[usize], names: &[String], title: &str) -> String {
    const PALETTE: [&str; 16] = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
        "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
    ];
    let (w, h, legend) = (900.0, 700.0, 260.0);
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in layout {
        x0 = x0.min(p[0]);
        x1 = x1.max(p[0]);
        y0 = y0.min(p[1]);
        y1 = y1.max(p[1]);
    }
    let sx = |x: f64| 20.0 + (x - x0) / (x1 - x0).max(1e-9) * (w - legend - 40.0);
    let sy = |y: f64| 40.0 + (y - y0) / (y1 - y0).max(1e-9) * (h - 60.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{title}">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="20" y="24" font-family="sans-serif" font-size="16">{}</text>"#, escape(title));
    for (p, &l) in layout.iter().zip(labels) {
        let _ = writeln!(
            s,
            r#"<circle cx="{:.1}" cy="{:.1}" r="2.6" fill="{}" fill-opacity="0.75"/>"#,
            sx(p[0]),
            sy(p[1]),
            PALETTE[l % PALETTE.len()]
        );
    }
    let mut used: Vec<usize> = labels.to_vec();
    used.sort_unstable();
    used.dedup();
    for (row, l) in used.iter().enumerate() {
        let y = 50.0 + row as f64 * 20.0;
        let x = w - legend + 10.0;
        let _ = writeln!(s, r#"<circle cx="{x}" cy="{y}" r="5" fill="{}"/>"#, PALETTE[l % PALETTE.len()]);
        let name = names.get(*l).map_or("?", String::as_str);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" font-family="sans-serif" font-size="12">{}</text>"#,
            x + 10.0,
            y + 4.0,
            escape(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
