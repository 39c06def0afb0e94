//! `passeur bench diversity`: the diversification score's figures, each with
//! a baseline measured in the same run.

use crate::bench::world_files;
use crate::diversity::load_rules;
use anyhow::Result;
use passeur_diversity::{BookedSets, OfferTraits, UserProfile, score_bookings};
use passeur_io::ScoringInput;
use passeur_synth::Scale;
use std::hint::black_box;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

fn seconds(since: Instant) -> f64 {
    since.elapsed().as_secs_f64()
}

pub fn run(data_dir: &Path, scale: Scale, seed: u64, rules: &str) -> Result<ExitCode> {
    let rules = load_rules(rules)?;
    let files = world_files(data_dir, scale, seed)?;

    // Baseline of the read: decoding the interactions' columns that scoring uses, doing nothing with them.
    let started = Instant::now();
    passeur_io::scan_parquet_columns(
        &files.join("interactions.parquet"),
        &["id", "kind", "user_id", "offer_id", "at", "booking_id"],
        &mut |batch| {
            black_box(batch);
            Ok(())
        },
    )?;
    let decode_s = seconds(started);
    let started = Instant::now();
    let mut input = ScoringInput::from_files(&files)?;
    let read_s = seconds(started);
    let n = input.table.len();

    // Baseline: one pass over the same columns that touches every booking's offer traits.
    let started = Instant::now();
    let mut acc = 0u64;
    for i in 0..n {
        let t = &input.traits[input.table.offer[i] as usize];
        acc = acc.wrapping_add(u64::from(t.category) ^ u64::from(input.table.user[i]));
    }
    black_box(acc);
    let baseline_s = seconds(started);

    let started = Instant::now();
    let scores = score_bookings(&rules, &input.traits, &input.table, input.user_ids.len());
    let score_s = seconds(started);
    black_box(&scores);

    // The faster piece beside it: bookings already resolved to dense indices by an earlier run.
    let dense = files.parent().expect("files has a parent").join("dense-bookings.parquet");
    input.save_dense(&dense)?;
    let cold = std::mem::take(&mut input.table);
    let cold_ids = std::mem::take(&mut input.booking_ids);
    let started = Instant::now();
    input.load_dense(&dense)?;
    let dense_read_s = seconds(started);
    let started = Instant::now();
    let dense_scores = score_bookings(&rules, &input.traits, &input.table, input.user_ids.len());
    let dense_score_s = seconds(started);
    anyhow::ensure!(input.table == cold && dense_scores == scores, "the dense bookings must score the same");
    drop(cold_ids);

    out!("diversification score, rules {}, {scale:?} world (seed {seed})", rules.name);
    out!("  batch scoring of {n} bookings, {} users, {} offers:", input.user_ids.len(), input.traits.len());
    out!("    scoring (Parquet read excluded):     {score_s:>8.3} s  (target < 4 s)");
    out!("    read the world's files + resolve ids: {read_s:>7.3} s  (venues, offers, users, interactions)");
    out!("    read + score (files included):       {:>8.3} s  (target < 4 s)", read_s + score_s);
    out!(
        "    baseline: decode the 6 interaction columns scoring uses, every row: {decode_s:.3} s  ratio read/decode {:.2}",
        read_s / decode_s
    );
    out!(
        "    dense bookings Parquet (ids resolved by an earlier run): read {dense_read_s:.3} s + score {dense_score_s:.3} s = {:.3} s  (target < 4 s)",
        dense_read_s + dense_score_s
    );
    out!(
        "    baseline pass over the same rows:    {baseline_s:>8.3} s  ratio scoring/baseline {:.1}",
        score_s / baseline_s
    );

    // Δdiv for 1,000 candidates against a user with a median history.
    let mut per_user: Vec<Vec<usize>> = vec![Vec::new(); input.user_ids.len()];
    for i in 0..n {
        if !input.table.cancelled[i] {
            per_user[input.table.user[i] as usize].push(i);
        }
    }
    let mut counts: Vec<(usize, usize)> = per_user.iter().enumerate().map(|(u, b)| (b.len(), u)).collect();
    counts.sort_unstable();
    let (history, user) = counts[counts.len() / 2];
    let profile = UserProfile::from_bookings(
        &rules,
        per_user[user].iter().map(|&i| {
            (input.booking_ids.get(i).to_owned(), input.table.at[i], input.traits[input.table.offer[i] as usize])
        }),
    );
    let stride = (input.traits.len() / 1000).max(1);
    let candidates: Vec<OfferTraits> = input.traits.iter().step_by(stride).take(1000).copied().collect();
    let mut out = Vec::with_capacity(candidates.len());
    let rounds = 20_000;
    let started = Instant::now();
    for _ in 0..rounds {
        profile.delta_div_many(&rules, black_box(&candidates), &mut out);
        black_box(&out);
    }
    let delta_us = seconds(started) / f64::from(rounds) * 1e6;
    let started = Instant::now();
    for _ in 0..rounds {
        out.clear();
        out.extend(black_box(&candidates).iter().map(|c| u32::from(c.category)));
        black_box(&out);
    }
    let copy_us = seconds(started) / f64::from(rounds) * 1e6;
    out!("  Δdiv for {} candidates against one user ({history} bookings):", candidates.len());
    out!(
        "    {delta_us:>8.2} µs per call  (target < 20 µs); baseline copy of the same candidates {copy_us:.2} µs, ratio {:.1}",
        delta_us / copy_us
    );

    // One incremental booking update: replay the first bookings of many users in order.
    let users = per_user.iter().filter(|b| !b.is_empty()).take(200_000);
    let mut ordered: Vec<(u64, i64, &str, OfferTraits)> = Vec::new();
    for (u, list) in users.enumerate() {
        for &i in list {
            ordered.push((
                u as u64,
                input.table.at[i],
                input.booking_ids.get(i),
                input.traits[input.table.offer[i] as usize],
            ));
        }
    }
    ordered.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
    let started = Instant::now();
    let mut sets = BookedSets::default();
    let mut current = u64::MAX;
    let mut total = 0u64;
    for (u, _, _, t) in &ordered {
        if *u != current {
            sets.clear();
            current = *u;
        }
        total += u64::from(sets.points(&rules, t).points);
        sets.add(t);
    }
    black_box(total);
    let sets_ns = seconds(started) / ordered.len() as f64 * 1e9;
    let started = Instant::now();
    let mut profile = UserProfile::new();
    let mut current = u64::MAX;
    for (u, at, id, t) in &ordered {
        if *u != current {
            profile = UserProfile::new();
            current = *u;
        }
        black_box(profile.book(&rules, id, *at, *t));
    }
    let profile_ns = seconds(started) / ordered.len() as f64 * 1e9;
    let started = Instant::now();
    let mut plain: Vec<OfferTraits> = Vec::new();
    let mut current = u64::MAX;
    for (u, _, _, t) in &ordered {
        if *u != current {
            plain = Vec::new();
            current = *u;
        }
        plain.push(*t);
        black_box(&plain);
    }
    let push_ns = seconds(started) / ordered.len() as f64 * 1e9;
    out!("  one incremental booking update ({} bookings replayed):", ordered.len());
    out!("    UserProfile::book (history kept):  {profile_ns:>8.1} ns  (target < 1 µs)");
    out!("    BookedSets points + add:           {sets_ns:>8.1} ns");
    out!("    baseline Vec push of the traits:   {push_ns:>8.1} ns  ratio book/push {:.1}", profile_ns / push_ns);
    Ok(ExitCode::SUCCESS)
}
