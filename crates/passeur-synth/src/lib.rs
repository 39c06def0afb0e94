//! A synthetic pass Culture world, deterministic per seed: venues in real
//! French cities, offers over the real taxonomy (books dominant, French
//! titles and descriptions that carry their genre), users aged 15 to 18 with
//! credit by age and latent tastes, and a behaviour model that turns tastes
//! into sessions of consultations, favourites, bookings and cancellations.
//! The ground truth ([`GroundTruth`], [`BehaviourModel`]) is kept so that
//! later simulations can compute the true value of a policy.
//!
//! ```
//! use passeur_synth::{Scale, World, WorldConfig};
//! let world = World::generate(WorldConfig::for_scale(Scale::Small, 7));
//! let mut interactions = Vec::new();
//! let credits = world.simulate(256, &mut |block| interactions.extend(block));
//! assert_eq!(credits.len(), world.users.len());
//! assert!(credits.iter().all(|c| *c >= 0));
//! ```

mod places;
mod vocab;
mod world;

pub use places::{CITIES, City};
pub use world::{BehaviourModel, GroundTruth, LOGGER_VERSION, Scale, UserTaste, World, WorldConfig};
