//! `passeur territory`: the territory's view of a department or a partner, from the record store.

use anyhow::{Result, bail};
use passeur_server::territory::{TerritoryError, territory_view};
use passeur_store::{SqliteStore, TerritoryScope};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Whose view.
#[derive(Debug, clap::Args)]
pub struct TerritoryArgs {
    /// A department code (its young residents).
    #[arg(long, conflicts_with = "partner", required_unless_present = "partner")]
    department: Option<String>,
    /// A partner id (the offers at its venues).
    #[arg(long)]
    partner: Option<String>,
    /// Diversification rules: deck, weighted, or a TOML file.
    #[arg(long, default_value = "deck")]
    rules: String,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Also write the JSON here.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Prints the view.
pub fn territory(data_dir: &Path, args: &TerritoryArgs) -> Result<ExitCode> {
    let scope = match (&args.department, &args.partner) {
        (Some(d), None) => TerritoryScope::Department(d.clone()),
        (None, Some(p)) => TerritoryScope::Partner(p.clone()),
        _ => bail!("give --department or --partner"),
    };
    let rules = match passeur_diversity::DiversificationRules::builtin(&args.rules) {
        Some(r) => r,
        None => passeur_diversity::DiversificationRules::load(Path::new(&args.rules))?,
    };
    let store = SqliteStore::open(data_dir)?;
    let view = match territory_view(&store, &scope, &rules) {
        Ok(v) => v,
        Err(TerritoryError::Unknown(field, id)) => bail!("{field} {id:?}: no such {field} in {}", data_dir.display()),
        Err(TerritoryError::Failed(e)) => return Err((*e).into()),
    };
    let json = serde_json::to_string_pretty(&view)?;
    if let Some(path) = &args.out {
        std::fs::write(path, &json)?;
    }
    if args.json {
        out!("{json}");
        return Ok(ExitCode::SUCCESS);
    }
    let t = &view.activity.total;
    out!(
        "{} {}: {} young people; {} consultations, {} bookings, {} cancellations",
        view.scope,
        view.id,
        view.users,
        t.consultations,
        t.bookings,
        t.cancellations
    );
    out!("diversification score: mean {:.1}, median {}", view.scores.mean, view.scores.median);
    for b in &view.scores.histogram {
        let to = b.to.map_or_else(|| "+".to_owned(), |t| format!("–{t}"));
        out!("  {:>3}{:<4} {}", b.from, to, b.users);
    }
    out!("| category | consultations | bookings | cancellations |");
    out!("| --- | --- | --- | --- |");
    for k in &view.activity.by_category {
        out!("| {} | {} | {} | {} |", k.key, k.counts.consultations, k.counts.bookings, k.counts.cancellations);
    }
    out!("| age | consultations | bookings |");
    out!("| --- | --- | --- |");
    for k in &view.activity.by_age {
        out!("| {} | {} | {} |", k.key, k.counts.consultations, k.counts.bookings);
    }
    out!("| month | consultations | bookings |");
    out!("| --- | --- | --- |");
    for k in &view.activity.by_month {
        out!("| {} | {} | {} |", k.key, k.counts.consultations, k.counts.bookings);
    }
    if let Some(offers) = &view.offers {
        out!("| offer | category | impressions | consultations | bookings |");
        out!("| --- | --- | --- | --- | --- |");
        for o in offers.iter().take(50) {
            out!(
                "| {} {} | {} | {} | {} | {} |",
                o.offer_id,
                o.title,
                o.category,
                o.impressions,
                o.consultations,
                o.bookings
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
