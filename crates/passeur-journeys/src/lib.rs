//! Closed-loop journeys: does a recommendation policy raise the diversification of young people's
//! cultural practices, and at what price in bookings?
//!
//! pass Culture's one measure of performance is the evolution of the diversification of young people's
//! practices. Offline replays of logged bookings cannot judge a policy that changes what young people
//! see; this crate closes the loop instead. A synthetic world's young people, with their ground-truth
//! tastes ([`passeur_synth::World`]), open the app at their rate; the service's own engine
//! ([`passeur_server::Engine`], in process) serves each session's list under the policy being studied;
//! the [`Behaviour`] model, read from a TOML file, answers it (examination by position, consultation,
//! booking under credit, stock and distance, cancellation, the drift of tastes after a discovery); the
//! answers go back into the engine's live state through its write path. A [`League`] of policies is run
//! over several seeds and behaviour files and summarised with intervals and the mission ratio
//! ([`summarise`]). Every result is simulated: it holds under the behaviour model it assumed.

pub mod behaviour;
pub mod error;
pub mod league;
pub mod league_run;
pub mod ope_check;
pub mod pareto;
pub mod simulate;

pub use behaviour::Behaviour;
pub use error::{JourneyError, Result};
pub use league::{League, PolicySpec};
pub use league_run::{Estimate, PolicySummary, summarise, table};
pub use league_run::{LeagueStudy, run_league};
pub use ope_check::{OpeCheck, OpeRow, check as check_ope, ope_table};
pub use pareto::{frontier, pareto_svg};
pub use simulate::{LoggedList, Metrics, RunOutcome, Study, StudyConfig, load_engine};
