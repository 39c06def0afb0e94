//! Ranking metrics on hand-made cases and against a naive reference, the
//! split sizes against RecBole's rule, and the t-SNE map on known clusters.

use passeur_retrieval::data::split_counts;
use passeur_retrieval::eval::{ItemKnnScorer, StaticScorer, Task, evaluate, top_k};
use passeur_retrieval::tsne::{TsneConfig, scatter_svg, tsne};
use proptest::prelude::*;

#[test]
fn metrics_on_a_hand_made_ranking() {
    // Scores rank offers 5 > 4 > 3 > 2 > 1 > 0; offer 4 is excluded (seen).
    let scores = StaticScorer(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let task = Task::new(vec![0], vec![vec![2, 5]], vec![vec![4]]);
    // Ranking: 5, 3, 2, 1, 0. Relevant 5 (rank 1) and 2 (rank 3).
    let popularity = vec![10u32, 10, 5, 10, 10, 20];
    let m = evaluate(&task, &scores, 6, &[1, 2, 3], Some((&popularity, 20))).unwrap();
    let log2 = |x: f64| x.log2();
    assert_eq!(m[0].recall, 0.5);
    assert_eq!(m[0].precision, 1.0);
    assert_eq!(m[0].ndcg, 1.0);
    assert_eq!(m[0].hit_rate, 1.0);
    assert_eq!(m[1].recall, 0.5);
    assert_eq!(m[1].precision, 0.5);
    let ideal2 = 1.0 + 1.0 / log2(3.0);
    assert!((m[1].ndcg - 1.0 / ideal2).abs() < 1e-12);
    assert_eq!(m[2].recall, 1.0);
    assert!((m[2].ndcg - (1.0 + 1.0 / log2(4.0)) / ideal2).abs() < 1e-12);
    // Coverage: offers in the top 3 (5, 3, 2) out of 6.
    assert_eq!(m[2].coverage, 0.5);
    // Novelty of the top 1: offer 5, seen by 20 of 20 users.
    assert_eq!(m[0].novelty, 0.0);
    assert!((m[2].novelty - (0.0 + 1.0 + 2.0) / 3.0).abs() < 1e-12);
}

#[test]
fn users_without_unseen_relevant_offers_are_not_evaluated() {
    let task = Task::new(vec![0, 1], vec![vec![1], vec![2]], vec![vec![1], vec![]]);
    assert_eq!(task.users, vec![1]);
}

#[test]
fn item_knn_scores_co_occurring_items() {
    // Users 0 and 1 both have 0 and 1; user 2 has 2 and 3. A user with offer 0 should get 1 first.
    let all = vec![vec![0, 1], vec![0, 1, 4], vec![2, 3]];
    let scorer = ItemKnnScorer::new(&all, vec![vec![0]], 5, 10);
    let task = Task::new(vec![0], vec![vec![1]], vec![vec![0]]);
    let m = evaluate(&task, &scorer, 5, &[1], None).unwrap();
    assert_eq!(m[0].recall, 1.0);
}

#[test]
fn split_counts_follow_recboles_rule() {
    assert_eq!(split_counts(10), [8, 1, 1]);
    assert_eq!(split_counts(20), [16, 2, 2]);
    assert_eq!(split_counts(25), [21, 2, 2]);
    // Below ten events the small parts still get one each when the share is under one.
    assert_eq!(split_counts(5), [3, 1, 1]);
    assert_eq!(split_counts(2), [1, 0, 1]);
    assert_eq!(split_counts(1), [1, 0, 0]);
    for n in 0..500 {
        assert_eq!(split_counts(n).iter().sum::<usize>(), n);
    }
}

proptest! {
    #[test]
    fn top_k_equals_a_full_sort(scores in prop::collection::vec(-3i32..3, 1..60), k in 1usize..20, ex in prop::collection::vec(0u32..60, 0..10)) {
        let mut exclude = ex;
        exclude.sort_unstable();
        exclude.dedup();
        exclude.retain(|&e| (e as usize) < scores.len());
        let mut row: Vec<f32> = scores.iter().map(|&s| s as f32).collect();
        let mut naive: Vec<u32> = (0..scores.len() as u32).filter(|i| exclude.binary_search(i).is_err()).collect();
        naive.sort_by(|a, b| scores[*b as usize].cmp(&scores[*a as usize]).then(a.cmp(b)));
        naive.truncate(k);
        let got = top_k(&mut row, &exclude, k, &mut Vec::new());
        prop_assert_eq!(got, naive);
    }
}

#[test]
fn tsne_keeps_well_separated_clusters_apart() {
    // Three clusters of 30 points in 8 dimensions.
    let mut points = Vec::new();
    let mut labels = Vec::new();
    let mut state = 12345u64;
    let mut noise = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    for c in 0..3 {
        for _ in 0..30 {
            for d in 0..8 {
                let centre = if d == c { 10.0 } else { 0.0 };
                points.push(centre + noise());
            }
            labels.push(c);
        }
    }
    let layout = tsne(&points, 8, TsneConfig { iterations: 400, perplexity: 10.0, ..TsneConfig::default() });
    let mut agree = 0;
    for i in 0..90 {
        let nearest = (0..90)
            .filter(|&j| j != i)
            .min_by(|&a, &b| {
                let d = |j: usize| (layout[i][0] - layout[j][0]).powi(2) + (layout[i][1] - layout[j][1]).powi(2);
                d(a).total_cmp(&d(b))
            })
            .unwrap();
        agree += usize::from(labels[nearest] == labels[i]);
    }
    assert!(agree >= 88, "{agree} of 90 nearest neighbours share the cluster");
    let svg = scatter_svg(&layout, &labels, &["a".into(), "b".into(), "c & d".into()], "test");
    assert!(svg.starts_with("<svg") && svg.contains("c &amp; d") && svg.matches("<circle").count() == 93);
}
