//! LinUCB (Li et al. 2010, disjoint-free "shared" form): one linear model of the reward over context-action
//! features, `r ≈ θᵀx`, fitted by ridge regression online; each choice takes the candidate with the
//! highest upper confidence bound `θᵀx + α √(xᵀ A⁻¹ x)`, `A = λI + Σ x xᵀ`. `A⁻¹` is kept up to date
//! with the Sherman-Morrison formula, so a choice costs `O(d²)` per candidate and an update `O(d²)`.

use serde::Serialize;

/// A LinUCB learner over `dim` features.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinUcb {
    dim: usize,
    alpha: f64,
    a_inv: Vec<f64>,
    b: Vec<f64>,
    theta: Vec<f64>,
    updates: u64,
}

impl LinUcb {
    /// A learner with exploration `alpha` and ridge `ridge` (A starts at `ridge · I`).
    pub fn new(dim: usize, alpha: f64, ridge: f64) -> LinUcb {
        let mut a_inv = vec![0.0; dim * dim];
        for i in 0..dim {
            a_inv[i * dim + i] = 1.0 / ridge;
        }
        LinUcb { dim, alpha, a_inv, b: vec![0.0; dim], theta: vec![0.0; dim], updates: 0 }
    }

    /// Features per candidate.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Observations learnt from.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// The predicted reward `θᵀx`.
    pub fn predict(&self, x: &[f64]) -> f64 {
        dot(&self.theta, x)
    }

    /// The upper confidence bound of features `x`.
    pub fn upper_bound(&self, x: &[f64]) -> f64 {
        let d = self.dim;
        let mut quadratic = 0.0;
        for i in 0..d {
            quadratic += x[i] * dot(&self.a_inv[i * d..(i + 1) * d], x);
        }
        self.predict(x) + self.alpha * quadratic.max(0.0).sqrt()
    }

    /// The index of the candidate (row-major features, `dim` each) with the highest bound; ties to the first.
    pub fn choose(&self, candidates: &[f64]) -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for (i, x) in candidates.chunks_exact(self.dim).enumerate() {
            let u = self.upper_bound(x);
            if best.is_none_or(|(_, b)| u > b) {
                best = Some((i, u));
            }
        }
        best.map(|(i, _)| i)
    }

    /// Learns from the reward `reward` observed for features `x`.
    pub fn update(&mut self, x: &[f64], reward: f64) {
        let d = self.dim;
        // Sherman-Morrison: (A + x xᵀ)⁻¹ = A⁻¹ − (A⁻¹x)(A⁻¹x)ᵀ / (1 + xᵀA⁻¹x); A⁻¹ is symmetric.
        let ax: Vec<f64> = (0..d).map(|i| dot(&self.a_inv[i * d..(i + 1) * d], x)).collect();
        let denominator = 1.0 + dot(x, &ax);
        for i in 0..d {
            for j in 0..d {
                self.a_inv[i * d + j] -= ax[i] * ax[j] / denominator;
            }
        }
        for (b, v) in self.b.iter_mut().zip(x) {
            *b += reward * v;
        }
        for i in 0..d {
            self.theta[i] = dot(&self.a_inv[i * d..(i + 1) * d], &self.b);
        }
        self.updates += 1;
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
