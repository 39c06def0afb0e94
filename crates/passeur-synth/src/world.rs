//! The generator: venues, items and offers, users with latent tastes, and the
//! sessions in which they consult, favourite, book and cancel.

use crate::places::CITIES;
use crate::vocab;
use chrono::{Datelike, NaiveDate};
use passeur_domain::{
    BookSectionId, CategoryId, CreditRules, GenreKind, GeoPoint, Interaction, InteractionKind, MovieGenreId,
    MusicGenreId, Offer, ShowTypeId, SubcategoryId, Taxonomy, Timestamp, User, Venue, VenueTypeId,
};
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Gamma, LogNormal, Normal, Poisson};
use rayon::prelude::*;

/// How big a world to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// For tests: generated in well under a second.
    Small,
    /// For the demo: about 50 k offers, 20 k users, 1 M interactions.
    Medium,
    /// For benchmarks: 1 M offers, 1 M users, about 20 M bookings.
    Large,
}

impl Scale {
    /// Parses `small`, `medium` or `large`.
    pub fn parse(name: &str) -> Option<Scale> {
        match name {
            "small" => Some(Scale::Small),
            "medium" => Some(Scale::Medium),
            "large" => Some(Scale::Large),
            _ => None,
        }
    }
}

/// Everything that shapes a world. Same config, same world, on any machine.
#[derive(Debug, Clone, PartialEq)]
pub struct WorldConfig {
    /// The seed of every random draw.
    pub seed: u64,
    /// Venues, digital ones included.
    pub venues: usize,
    /// Offers.
    pub offers: usize,
    /// Users.
    pub users: usize,
    /// Mean browsing sessions per user over the period (scaled by each user's activity).
    pub sessions_per_user: f64,
    /// Offers shown per session.
    pub shown_per_session: usize,
    /// First day of the simulated period.
    pub start: NaiveDate,
    /// Length of the period, in days.
    pub days: i64,
    /// Credit grants by age.
    pub credit: CreditRules,
    /// Behaviour parameters.
    pub behaviour: BehaviourModel,
    /// Record every shown offer as an impression (with its call, position and draw probability):
    /// the logs the ranking stage learns from.
    pub log_impressions: bool,
}

/// The `model_version` of the simulated app's impressions.
pub const LOGGER_VERSION: &str = "synthetic-logger";

impl WorldConfig {
    /// The preset of a scale.
    pub fn for_scale(scale: Scale, seed: u64) -> WorldConfig {
        let (venues, offers, users, sessions_per_user) = match scale {
            Scale::Small => (150, 2_000, 400, 12.0),
            Scale::Medium => (4_000, 50_000, 20_000, 7.0),
            Scale::Large => (60_000, 1_000_000, 1_000_000, 15.0),
        };
        WorldConfig {
            seed,
            venues,
            offers,
            users,
            sessions_per_user,
            shown_per_session: 12,
            start: NaiveDate::from_ymd_opt(2023, 1, 1).expect("valid date"),
            days: 365,
            credit: CreditRules::default(),
            behaviour: BehaviourModel::default(),
            log_impressions: true,
        }
    }

    /// The instant the period ends, which is also the reference date of ages.
    pub fn end(&self) -> Timestamp {
        Timestamp::from_date(self.start).plus_days(self.days)
    }
}

/// The behaviour model: how a user's latent tastes and an offer's quality turn
/// into the probabilities of consulting and booking. Later simulations use it
/// to compute the true value of a recommendation policy.
#[derive(Debug, Clone, PartialEq)]
pub struct BehaviourModel {
    /// Weight of ln(category taste) in the utility.
    pub category_weight: f64,
    /// Utility bonus when the offer's genre is one of the user's favourites.
    pub genre_bonus: f64,
    /// Utility lost per kilometre between home and venue.
    pub distance_per_km: f64,
    /// Offset of p(consult) = σ(utility + offset).
    pub consult_offset: f64,
    /// Offset of p(book | consult) = σ(utility + offset).
    pub book_offset: f64,
    /// p(favourite | consult).
    pub favourite_rate: f64,
    /// p(cancel | booking).
    pub cancel_rate: f64,
    /// Taste weight a discovery adds to its category, times the user's openness.
    pub drift: f64,
}

impl Default for BehaviourModel {
    fn default() -> Self {
        BehaviourModel {
            category_weight: 1.0,
            genre_bonus: 1.0,
            distance_per_km: 0.06,
            consult_offset: 0.2,
            book_offset: 0.9,
            favourite_rate: 0.08,
            cancel_rate: 0.03,
            drift: 0.25,
        }
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// A user's hidden preferences: the ground truth behind their behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct UserTaste {
    /// Weight of each category (indexed by [`CategoryId::index`]), summing to 1.
    pub categories: Vec<f64>,
    /// Favourite book macro-sections.
    pub book_sections: Vec<BookSectionId>,
    /// Favourite music genres.
    pub music_genres: Vec<MusicGenreId>,
    /// Favourite show types.
    pub show_types: Vec<ShowTypeId>,
    /// Favourite movie genres.
    pub movie_genres: Vec<MovieGenreId>,
    /// Openness to discovery, 0..1: how often the user looks beyond their tastes, and how much a discovery changes them.
    pub openness: f64,
    /// Activity multiplier (mean 1).
    pub activity: f64,
}

impl BehaviourModel {
    /// The utility of an offer for a user: taste for its category, genre
    /// match, the offer's quality, and the distance to travel.
    pub fn utility(&self, taste: &UserTaste, offer: &Offer, quality: f64, distance_km: Option<f64>) -> f64 {
        let category = taste.categories[offer.category().index()].max(1e-4);
        let genre = match offer.category().genre_kind() {
            Some(GenreKind::BookSection) => offer.book_macro_section.is_some_and(|g| taste.book_sections.contains(&g)),
            Some(GenreKind::MusicGenre) => offer.music_genre.is_some_and(|g| taste.music_genres.contains(&g)),
            Some(GenreKind::ShowType) => offer.show_type.is_some_and(|g| taste.show_types.contains(&g)),
            Some(GenreKind::MovieGenre) => offer.movie_genre.is_some_and(|g| taste.movie_genres.contains(&g)),
            None => false,
        };
        self.category_weight * (category * 13.0).ln() + if genre { self.genre_bonus } else { 0.0 } + quality
            - self.distance_per_km * distance_km.unwrap_or(0.0)
    }

    /// p(consult | shown).
    pub fn p_consult(&self, utility: f64) -> f64 {
        sigmoid(utility + self.consult_offset - 1.0)
    }

    /// p(book | consulted), before credit.
    pub fn p_book(&self, utility: f64) -> f64 {
        sigmoid(utility + self.book_offset - 1.0)
    }
}

/// What the generator knows and files do not say.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruth {
    /// Each user's tastes, in user order.
    pub users: Vec<UserTaste>,
    /// Each offer's latent quality, in offer order.
    pub offer_quality: Vec<f64>,
}

/// A generated world, before its interactions are simulated.
#[derive(Debug, Clone)]
pub struct World {
    /// The config that made it.
    pub config: WorldConfig,
    /// Venues.
    pub venues: Vec<Venue>,
    /// Offers.
    pub offers: Vec<Offer>,
    /// Users, with their credit at the start of the period.
    pub users: Vec<User>,
    /// The hidden truth.
    pub truth: GroundTruth,
    venue_index: std::collections::HashMap<String, usize>,
    pools: Pools,
}

/// Candidate pools: offline offers by (category, department), online offers by category.
#[derive(Debug, Clone, Default)]
struct Pools {
    departments: Vec<&'static str>,
    offline: Vec<Vec<Vec<u32>>>,
    online: Vec<Vec<u32>>,
}

const VENUE_MIX: &[(&str, u32, u32)] = &[
    // venue type, share of venues, relative number of offers
    ("BOOKSTORE", 22, 14),
    ("DISTRIBUTION_STORE", 5, 16),
    ("RECORD_STORE", 4, 5),
    ("CONCERT_HALL", 7, 3),
    ("PERFORMING_ARTS", 10, 3),
    ("MOVIE", 10, 3),
    ("MUSEUM", 8, 2),
    ("LIBRARY", 8, 2),
    ("CULTURAL_CENTRE", 7, 3),
    ("ARTISTIC_COURSE", 6, 2),
    ("FESTIVAL", 2, 2),
    ("GAMES", 2, 2),
    ("MUSICAL_INSTRUMENT_STORE", 3, 3),
    ("CREATIVE_ARTS_STORE", 2, 3),
    ("PATRIMONY_TOURISM", 2, 2),
    ("SCIENTIFIC_CULTURE", 1, 2),
    ("VISUAL_ARTS", 2, 2),
    ("DIGITAL", 4, 12),
];

fn subcategory_mix(venue_type: &str) -> &'static [(&'static str, u32)] {
    match venue_type {
        "BOOKSTORE" => &[("LIVRE_PAPIER", 90), ("LIVRE_AUDIO_PHYSIQUE", 3), ("RENCONTRE", 5), ("FESTIVAL_LIVRE", 2)],
        "DISTRIBUTION_STORE" => &[
            ("LIVRE_PAPIER", 55),
            ("SUPPORT_PHYSIQUE_MUSIQUE_CD", 12),
            ("SUPPORT_PHYSIQUE_MUSIQUE_VINYLE", 8),
            ("SUPPORT_PHYSIQUE_FILM", 10),
            ("MATERIEL_ART_CREATIF", 5),
            ("ACHAT_INSTRUMENT", 2),
        ],
        "RECORD_STORE" => {
            &[("SUPPORT_PHYSIQUE_MUSIQUE_CD", 50), ("SUPPORT_PHYSIQUE_MUSIQUE_VINYLE", 45), ("CONCERT", 5)]
        }
        "CONCERT_HALL" => &[("CONCERT", 80), ("FESTIVAL_MUSIQUE", 10), ("ABO_CONCERT", 10)],
        "PERFORMING_ARTS" => {
            &[("SPECTACLE_REPRESENTATION", 80), ("ABO_SPECTACLE", 10), ("FESTIVAL_SPECTACLE", 5), ("CONCERT", 5)]
        }
        "MOVIE" => {
            &[("SEANCE_CINE", 75), ("CARTE_CINE_MULTISEANCES", 10), ("CARTE_CINE_ILLIMITE", 5), ("EVENEMENT_CINE", 10)]
        }
        "MUSEUM" => &[
            ("VISITE", 40),
            ("VISITE_GUIDEE", 25),
            ("CARTE_MUSEE", 15),
            ("EVENEMENT_PATRIMOINE", 10),
            ("FESTIVAL_ART_VISUEL", 10),
        ],
        "LIBRARY" => &[("ABO_BIBLIOTHEQUE", 40), ("RENCONTRE", 30), ("ABO_MEDIATHEQUE", 15), ("CONFERENCE", 15)],
        "CULTURAL_CENTRE" => &[
            ("ATELIER_PRATIQUE_ART", 30),
            ("SPECTACLE_REPRESENTATION", 25),
            ("CONCERT", 20),
            ("CONFERENCE", 15),
            ("SEANCE_ESSAI_PRATIQUE_ART", 10),
        ],
        "ARTISTIC_COURSE" => {
            &[("ATELIER_PRATIQUE_ART", 50), ("ABO_PRATIQUE_ART", 30), ("SEANCE_ESSAI_PRATIQUE_ART", 20)]
        }
        "FESTIVAL" => {
            &[("FESTIVAL_MUSIQUE", 50), ("FESTIVAL_SPECTACLE", 25), ("FESTIVAL_CINE", 15), ("FESTIVAL_LIVRE", 10)]
        }
        "GAMES" => &[("ESCAPE_GAME", 40), ("ABO_LUDOTHEQUE", 30), ("EVENEMENT_JEU", 20), ("RENCONTRE_JEU", 10)],
        "MUSICAL_INSTRUMENT_STORE" => &[("ACHAT_INSTRUMENT", 50), ("PARTITION", 25), ("LOCATION_INSTRUMENT", 25)],
        "CREATIVE_ARTS_STORE" => &[("MATERIEL_ART_CREATIF", 100)],
        "PATRIMONY_TOURISM" => &[("VISITE", 50), ("VISITE_GUIDEE", 35), ("EVENEMENT_PATRIMOINE", 15)],
        "SCIENTIFIC_CULTURE" => &[("VISITE", 50), ("CONFERENCE", 50)],
        "VISUAL_ARTS" => &[("VISITE", 50), ("FESTIVAL_ART_VISUEL", 30), ("ATELIER_PRATIQUE_ART", 20)],
        _ => &[
            ("LIVRE_NUMERIQUE", 30),
            ("ABO_PLATEFORME_MUSIQUE", 12),
            ("ABO_PRESSE_EN_LIGNE", 10),
            ("VOD", 8),
            ("ABO_PLATEFORME_VIDEO", 8),
            ("PODCAST", 4),
            ("ABO_JEU_VIDEO", 6),
            ("JEU_EN_LIGNE", 4),
            ("TELECHARGEMENT_MUSIQUE", 5),
            ("TELECHARGEMENT_LIVRE_AUDIO", 5),
            ("APP_CULTURELLE", 3),
            ("VISITE_VIRTUELLE", 2),
            ("LIVESTREAM_MUSIQUE", 3),
        ],
    }
}

/// Mean taste for each category over the population (books dominate, as on the platform).
const CATEGORY_PRIOR: &[(&str, f64)] = &[
    ("LIVRE", 0.42),
    ("CINEMA", 0.13),
    ("MUSIQUE_LIVE", 0.08),
    ("SPECTACLE", 0.06),
    ("MUSEE", 0.04),
    ("MUSIQUE_ENREGISTREE", 0.04),
    ("PRATIQUE_ART", 0.03),
    ("INSTRUMENT", 0.02),
    ("FILM", 0.02),
    ("MEDIA", 0.015),
    ("JEU", 0.015),
    ("CONFERENCE", 0.01),
    ("BEAUX_ARTS", 0.01),
];

const BOOK_SECTION_WEIGHTS: &[(&str, u32)] = &[
    ("Manga", 25),
    ("Bandes dessinées", 10),
    ("Littérature française", 10),
    ("Littérature étrangère", 8),
    ("Science-fiction, fantastique & terreur", 8),
    ("Jeunesse", 7),
    ("Policier", 7),
    ("Scolaire & Parascolaire", 6),
    ("Littérature Européenne", 3),
    ("Histoire", 3),
    ("Poésie, théâtre et spectacle", 3),
    ("Sciences Humaines, Encyclopédie, dictionnaire", 2),
    ("Sciences, vie & Nature", 2),
    ("Sport", 2),
    ("Art", 2),
    ("Arts Culinaires", 1),
    ("Psychanalyse, psychologie", 1),
    ("Faits, témoignages", 1),
];

const MUSIC_GENRE_WEIGHTS: &[(&str, u32)] = &[
    ("Rap/ Hip Hop", 25),
    ("Pop", 20),
    ("Electro", 10),
    ("Rock", 10),
    ("Variétés", 8),
    ("Funk / Soul / RnB / Disco", 8),
    ("Jazz / Blues", 4),
    ("Musique Classique", 4),
    ("Musique du monde", 4),
    ("Metal", 3),
    ("Reggae / Ragga", 2),
    ("Alternatif", 2),
];

const SHOW_TYPE_WEIGHTS: &[(&str, u32)] = &[
    ("Théâtre", 30),
    ("Humour / Café-théâtre", 25),
    ("Danse", 15),
    ("Cirque", 10),
    ("Spectacle Musical / Cabaret / Opérette", 10),
    ("Opéra", 5),
    ("Spectacle Jeunesse", 5),
];

const MOVIE_GENRE_WEIGHTS: &[(&str, u32)] = &[
    ("ACTION", 20),
    ("COMEDY", 18),
    ("ANIMATION", 12),
    ("DRAMA", 12),
    ("SCIENCE_FICTION", 10),
    ("HORROR", 8),
    ("THRILLER", 8),
    ("ROMANCE", 6),
    ("ADVENTURE", 4),
    ("DOCUMENTARY", 2),
];

/// (min €, max €, share of free offers) by category.
fn price_range(category: &str, subcategory: &str) -> (f64, f64, f64) {
    match (category, subcategory) {
        (_, "ACHAT_INSTRUMENT") => (60.0, 300.0, 0.0),
        (_, "SUPPORT_PHYSIQUE_MUSIQUE_VINYLE") => (18.0, 35.0, 0.0),
        (_, "CARTE_CINE_ILLIMITE") => (20.0, 30.0, 0.0),
        ("LIVRE", _) => (5.0, 25.0, 0.02),
        ("CINEMA", _) => (4.0, 10.0, 0.02),
        ("MUSIQUE_LIVE", _) => (8.0, 45.0, 0.08),
        ("SPECTACLE", _) => (6.0, 35.0, 0.08),
        ("MUSEE", _) => (3.0, 15.0, 0.45),
        ("MUSIQUE_ENREGISTREE", _) => (8.0, 20.0, 0.0),
        ("PRATIQUE_ART", _) => (5.0, 40.0, 0.3),
        ("INSTRUMENT", _) => (8.0, 60.0, 0.0),
        ("CONFERENCE", _) => (3.0, 10.0, 0.7),
        ("JEU", _) => (5.0, 25.0, 0.1),
        ("BEAUX_ARTS", _) => (8.0, 40.0, 0.0),
        _ => (4.0, 15.0, 0.1),
    }
}

fn weighted<T: Copy>(rng: &mut impl Rng, table: &[(T, u32)]) -> T {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (item, w) in table {
        if x < *w {
            return *item;
        }
        x -= w;
    }
    table[table.len() - 1].0
}

fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// A product sold at one or more venues.
struct Item {
    id: String,
    title: String,
    description: String,
    artist: Option<String>,
    book_macro_section: Option<BookSectionId>,
    music_genre: Option<MusicGenreId>,
    show_type: Option<ShowTypeId>,
    movie_genre: Option<MovieGenreId>,
    price_cents: i64,
    quality: f64,
}

struct ItemFactory {
    artists: Vec<Vec<String>>,
    items: Vec<Vec<Item>>,
    next_id: usize,
}

impl ItemFactory {
    fn new(rng: &mut ChaCha8Rng, offers: usize) -> ItemFactory {
        let categories = Taxonomy::embedded().categories.len();
        let per_category = (offers / 40).max(20);
        let artists = (0..categories)
            .map(|_| {
                (0..per_category)
                    .map(|_| format!("{} {}", pick(rng, vocab::FIRST_NAMES), pick(rng, vocab::LAST_NAMES)))
                    .collect()
            })
            .collect();
        ItemFactory {
            artists,
            items: (0..Taxonomy::embedded().subcategories.len()).map(|_| Vec::new()).collect(),
            next_id: 0,
        }
    }

    /// An item of the subcategory: an existing one (shared products), or a new one.
    fn item(&mut self, rng: &mut ChaCha8Rng, subcategory: SubcategoryId, share: f64) -> &Item {
        let pool_len = self.items[subcategory.index()].len();
        if pool_len > 0 && rng.random_bool(share) {
            // Popular products are sold in more places: a skewed pick.
            let i = ((rng.random::<f64>().powi(3)) * pool_len as f64) as usize;
            return &self.items[subcategory.index()][i.min(pool_len - 1)];
        }
        let item = self.new_item(rng, subcategory);
        self.items[subcategory.index()].push(item);
        self.items[subcategory.index()].last().expect("just pushed")
    }

    fn new_item(&mut self, rng: &mut ChaCha8Rng, subcategory: SubcategoryId) -> Item {
        let info = subcategory.info();
        let category = info.category;
        let (mut book, mut music, mut show, mut movie) = (None, None, None, None);
        let (genre_label, keywords): (String, &[&str]) = match category.genre_kind() {
            Some(GenreKind::BookSection) => {
                let g = weighted(rng, BOOK_SECTION_WEIGHTS);
                book = BookSectionId::parse(g).ok();
                (format!("livre, rayon {g}"), vocab::words(vocab::BOOK_SECTIONS, g).unwrap_or(vocab::BOOK_GENERIC))
            }
            Some(GenreKind::MusicGenre) => {
                let g = weighted(rng, MUSIC_GENRE_WEIGHTS);
                music = MusicGenreId::parse(g).ok();
                (format!("musique {g}"), vocab::words(vocab::MUSIC_GENRES, g).unwrap_or(&["musique"]))
            }
            Some(GenreKind::ShowType) => {
                let g = weighted(rng, SHOW_TYPE_WEIGHTS);
                show = ShowTypeId::parse(g).ok();
                (format!("spectacle, {g}"), vocab::words(vocab::SHOW_TYPES, g).unwrap_or(&["spectacle"]))
            }
            Some(GenreKind::MovieGenre) => {
                let g = weighted(rng, MOVIE_GENRE_WEIGHTS);
                movie = MovieGenreId::parse(g).ok();
                let label = movie.map(|m| m.label().to_lowercase()).unwrap_or_default();
                (format!("film, genre {label}"), vocab::words(vocab::MOVIE_GENRES, g).unwrap_or(&["film"]))
            }
            None => (
                category.label().to_lowercase(),
                vocab::words(vocab::CATEGORY_WORDS, category.canonical()).unwrap_or(vocab::BOOK_GENERIC),
            ),
        };
        let artists = &self.artists[category.index()];
        let artist = matches!(
            category.canonical(),
            "LIVRE" | "MUSIQUE_LIVE" | "MUSIQUE_ENREGISTREE" | "SPECTACLE" | "CINEMA" | "FILM" | "CONFERENCE"
        )
        .then(|| artists[((rng.random::<f64>().powi(2)) * artists.len() as f64) as usize % artists.len()].clone());
        let (k1, k2, k3) = (pick(rng, keywords), pick(rng, keywords), pick(rng, keywords));
        let base = format!("{} {}", pick(rng, vocab::TITLE_NOUNS), pick(rng, vocab::TITLE_COMPLEMENTS));
        let title = match category.canonical() {
            "MUSIQUE_LIVE" => format!("{} en concert : {}", artist.as_deref().unwrap_or("Concert"), base),
            "MUSEE" => format!("Exposition « {base} »"),
            "PRATIQUE_ART" => format!("{} : {}", capitalise(k1), base),
            _ => format!("{base} ({k1})"),
        };
        let description = format!(
            "{} — {}. Une proposition autour de {k1}, de {k2} et de {k3}{}. {}",
            info_label(subcategory),
            genre_label,
            artist.as_deref().map(|a| format!(", par {a}")).unwrap_or_default(),
            capitalise(&format!("{k2} et {k3} au programme, pour les amateurs de {k1}.")),
        );
        let (lo, hi, free) = price_range(category.canonical(), subcategory.canonical());
        let price_cents = if rng.random_bool(free) {
            0
        } else {
            let x: f64 = rng.random::<f64>().powi(2);
            ((lo + (hi - lo) * x) * 100.0 / 10.0).round() as i64 * 10 - 10
        }
        .max(0);
        self.next_id += 1;
        Item {
            id: format!("I{:07}", self.next_id),
            title,
            description,
            artist,
            book_macro_section: book,
            music_genre: music,
            show_type: show,
            movie_genre: movie,
            price_cents,
            quality: Normal::new(0.0, 0.6).expect("valid").sample(rng),
        }
    }
}

fn info_label(subcategory: SubcategoryId) -> &'static str {
    subcategory.label()
}

fn seed_for(seed: u64, stream: u64) -> u64 {
    // SplitMix64 of (seed, stream): independent, reproducible streams per user.
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl World {
    /// Generates venues, offers and users (deterministic per config).
    pub fn generate(config: WorldConfig) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(seed_for(config.seed, u64::MAX));
        let city_weights = WeightedIndex::new(CITIES.iter().map(|c| c.population_k)).expect("weights");
        let venue_mix: Vec<(&str, u32)> = VENUE_MIX.iter().map(|(t, share, _)| (*t, *share)).collect();
        let jitter = Normal::new(0.0, 0.03).expect("valid");

        let mut venues = Vec::with_capacity(config.venues);
        let mut capacity = Vec::with_capacity(config.venues);
        for i in 0..config.venues {
            let city = &CITIES[city_weights.sample(&mut rng)];
            let type_code = weighted(&mut rng, &venue_mix);
            let venue_type = VenueTypeId::parse(type_code).expect("known venue type");
            let location = (type_code != "DIGITAL").then(|| {
                GeoPoint::new(city.lat + jitter.sample(&mut rng), city.lon + jitter.sample(&mut rng)).expect("in range")
            });
            let prefix = vocab::VENUE_NAMES.iter().find(|(t, _)| *t == type_code).map_or("Lieu", |(_, n)| *n);
            let name = format!("{prefix} {} {}", pick(&mut rng, vocab::LAST_NAMES), city.name);
            venues.push(Venue {
                id: format!("V{i:06}"),
                name,
                venue_type,
                location,
                city: city.name.to_owned(),
                department: city.department.to_owned(),
                partner_id: format!("P{:06}", i / 2),
            });
            capacity.push(VENUE_MIX.iter().find(|(t, _, _)| *t == type_code).map_or(1, |(_, _, c)| *c));
        }

        let venue_weights = WeightedIndex::new(&capacity).expect("weights");
        // Only subcategories the platform lets partners choose (`is_selectable`).
        let selectable_mixes: Vec<Vec<(SubcategoryId, u32)>> = VenueTypeId::all()
            .map(|t| {
                subcategory_mix(t.canonical())
                    .iter()
                    .map(|(code, w)| (SubcategoryId::parse(code).expect("known subcategory"), *w))
                    .filter(|(s, _)| s.info().is_selectable)
                    .collect()
            })
            .collect();
        let mut factory = ItemFactory::new(&mut rng, config.offers);
        let mut offers = Vec::with_capacity(config.offers);
        let mut offer_quality = Vec::with_capacity(config.offers);
        let start = Timestamp::from_date(config.start);
        let end = config.end();
        for i in 0..config.offers {
            let v = venue_weights.sample(&mut rng);
            let venue = &venues[v];
            let mix = &selectable_mixes[venue.venue_type.index()];
            let subcategory = weighted(&mut rng, mix);
            let info = subcategory.info();
            let shared = if info.is_event { 0.3 } else { 0.6 };
            let item = factory.item(&mut rng, subcategory, shared);
            let created_at =
                Timestamp(start.plus_days(-120).seconds() + rng.random_range(0..(config.days + 110) * Timestamp::DAY));
            let (event_start, bookable_until) = if info.is_event {
                let s = created_at.plus_days(rng.random_range(7..90)).seconds() / 1800 * 1800;
                (Some(Timestamp(s)), Some(Timestamp(s)))
            } else if rng.random_bool(0.5) {
                (None, Some(created_at.plus_days(rng.random_range(60..400))))
            } else {
                (None, None)
            };
            let stock = if info.is_event || rng.random_bool(0.2) {
                Some(if rng.random_bool(0.05) { 0 } else { rng.random_range(1..200) })
            } else {
                None
            };
            let duo = info.can_be_duo && rng.random_bool(0.5);
            offers.push(Offer {
                id: format!("O{i:07}"),
                item_id: item.id.clone(),
                title: item.title.clone(),
                description: item.description.clone(),
                artist: item.artist.clone(),
                subcategory,
                book_macro_section: item.book_macro_section,
                music_genre: item.music_genre,
                show_type: item.show_type,
                movie_genre: item.movie_genre,
                price_cents: item.price_cents,
                duo,
                stock,
                bookable_from: Some(created_at),
                bookable_until: bookable_until.map(|u| u.min(end.plus_days(400))),
                event_start,
                created_at,
                venue_id: Some(venue.id.clone()),
                image_embedding: None,
            });
            offer_quality.push(item.quality + Normal::new(0.0, 0.2).expect("valid").sample(&mut rng));
        }

        let taxonomy = Taxonomy::embedded();
        let alphas: Vec<f64> = (0..taxonomy.categories.len())
            .map(|c| {
                let code = CategoryId(c as u16).canonical();
                CATEGORY_PRIOR.iter().find(|(k, _)| *k == code).map_or(0.0, |(_, p)| *p)
            })
            .collect();
        let reference = end.date();
        let mut users = Vec::with_capacity(config.users);
        let mut tastes = Vec::with_capacity(config.users);
        let activity = LogNormal::new(-0.18, 0.6).expect("valid");
        for i in 0..config.users {
            let city = &CITIES[city_weights.sample(&mut rng)];
            let age = weighted(&mut rng, &[(15, 12), (16, 12), (17, 12), (18, 64)]);
            let birth = reference
                .with_year(reference.year() - age)
                .unwrap_or(reference)
                .checked_sub_days(chrono::Days::new(rng.random_range(1..365)))
                .expect("in range");
            let home = rng.random_bool(0.85).then(|| {
                GeoPoint::new(city.lat + jitter.sample(&mut rng), city.lon + jitter.sample(&mut rng)).expect("in range")
            });
            let credit_cents = if age >= 18 { config.credit.grant_at(18) } else { config.credit.granted_up_to(age) };
            users.push(User {
                id: format!("U{i:07}"),
                birth_date: birth,
                department: city.department.to_owned(),
                home,
                credit_cents,
            });
            // Latent tastes: a Dirichlet draw around the population's prior (concentration 4).
            let mut cats: Vec<f64> = alphas
                .iter()
                .map(|a| if *a > 0.0 { Gamma::new(a * 4.0, 1.0).expect("valid").sample(&mut rng) } else { 0.0 })
                .collect();
            let total: f64 = cats.iter().sum::<f64>().max(1e-12);
            cats.iter_mut().for_each(|c| *c /= total);
            let mut favourites = |table: &[(&'static str, u32)], n: usize| -> Vec<&'static str> {
                (0..n).map(|_| weighted(&mut rng, table)).collect()
            };
            let book_sections =
                favourites(BOOK_SECTION_WEIGHTS, 2).iter().filter_map(|g| BookSectionId::parse(g).ok()).collect();
            let music_genres =
                favourites(MUSIC_GENRE_WEIGHTS, 2).iter().filter_map(|g| MusicGenreId::parse(g).ok()).collect();
            let show_types =
                favourites(SHOW_TYPE_WEIGHTS, 1).iter().filter_map(|g| ShowTypeId::parse(g).ok()).collect();
            let movie_genres =
                favourites(MOVIE_GENRE_WEIGHTS, 2).iter().filter_map(|g| MovieGenreId::parse(g).ok()).collect();
            tastes.push(UserTaste {
                categories: cats,
                book_sections,
                music_genres,
                show_types,
                movie_genres,
                openness: rng.random::<f64>().powf(1.5),
                activity: activity.sample(&mut rng),
            });
        }

        let venue_index = venues.iter().enumerate().map(|(i, v)| (v.id.clone(), i)).collect();
        let mut world = World {
            config,
            venues,
            offers,
            users,
            truth: GroundTruth { users: tastes, offer_quality },
            venue_index,
            pools: Pools::default(),
        };
        world.pools = world.build_pools();
        world
    }

    fn build_pools(&self) -> Pools {
        let mut departments: Vec<&'static str> = CITIES.iter().map(|c| c.department).collect();
        departments.sort_unstable();
        departments.dedup();
        let categories = Taxonomy::embedded().categories.len();
        let mut offline = vec![vec![Vec::new(); departments.len()]; categories];
        let mut online = vec![Vec::new(); categories];
        for (i, offer) in self.offers.iter().enumerate() {
            let c = offer.category().index();
            let venue = offer.venue_id.as_ref().and_then(|v| self.venue_index.get(v)).map(|v| &self.venues[*v]);
            match venue {
                Some(v) if v.location.is_some() => {
                    let d = departments.binary_search(&v.department.as_str()).expect("known department");
                    offline[c][d].push(i as u32);
                }
                _ => online[c].push(i as u32),
            }
        }
        Pools { departments, offline, online }
    }

    /// The venue of an offer.
    pub fn venue_of(&self, offer: &Offer) -> Option<&Venue> {
        offer.venue_id.as_ref().and_then(|v| self.venue_index.get(v)).map(|i| &self.venues[*i])
    }

    /// Distance from a user's home to an offer's venue, when both are known.
    pub fn distance_km(&self, user: &User, offer: &Offer) -> Option<f64> {
        let venue = self.venue_of(offer)?;
        Some(user.home?.distance_km(venue.location?))
    }

    /// The probability that one draw of the simulated app's candidate policy picks offer `o` for this user
    /// (the propensity logged with its impressions). Redraws past offers that cannot be booked make the
    /// shown distribution differ slightly from it; the simulated logger records the draw.
    pub fn draw_probability(&self, user: usize, department: Option<usize>, o: u32) -> f64 {
        let taste = &self.truth.users[user];
        let explore = 0.1 + 0.3 * taste.openness;
        let offer = &self.offers[o as usize];
        let category = offer.category().index();
        // The category draw walks the weights; the last category also takes the rounding remainder.
        let weight = taste.categories.get(category).copied().unwrap_or(0.0);
        let local = department.map(|d| &self.pools.offline[category][d]).filter(|p| !p.is_empty());
        let online = &self.pools.online[category];
        let in_local = local.is_some_and(|p| p.binary_search(&o).is_ok());
        let in_online = online.binary_search(&o).is_ok();
        let pool = match (local, online.is_empty()) {
            (Some(l), true) => f64::from(u8::from(in_local)) / l.len() as f64,
            (Some(l), false) => {
                0.9 * f64::from(u8::from(in_local)) / l.len() as f64
                    + 0.1 * f64::from(u8::from(in_online)) / online.len() as f64
            }
            (None, false) => f64::from(u8::from(in_online)) / online.len() as f64,
            (None, true) => 0.0,
        };
        let p = explore / self.offers.len() as f64 + (1.0 - explore) * weight * pool;
        p.clamp(f64::MIN_POSITIVE, 1.0)
    }

    /// One draw of the simulated app's candidate policy for user `user` (see [`World::draw_probability`]):
    /// an offer index, or none when the drawn category has no offer near the user nor online.
    pub fn draw_candidate(&self, rng: &mut ChaCha8Rng, user: usize) -> Option<u32> {
        let department = self.pools.departments.binary_search(&self.users[user].department.as_str()).ok();
        self.candidate(rng, user, department)
    }

    fn candidate(&self, rng: &mut ChaCha8Rng, user: usize, department: Option<usize>) -> Option<u32> {
        let taste = &self.truth.users[user];
        let explore = 0.1 + 0.3 * taste.openness;
        if rng.random_bool(explore) {
            return Some(rng.random_range(0..self.offers.len() as u32));
        }
        let weights = &taste.categories;
        let mut x: f64 = rng.random();
        let mut category = 0;
        for (c, w) in weights.iter().enumerate() {
            if x < *w {
                category = c;
                break;
            }
            x -= w;
            category = c;
        }
        let local = department.map(|d| &self.pools.offline[category][d]).filter(|p| !p.is_empty());
        let online = &self.pools.online[category];
        let pool = match (local, online.is_empty()) {
            (Some(local), true) => local,
            (Some(local), false) => {
                if rng.random_bool(0.9) {
                    local
                } else {
                    online
                }
            }
            (None, false) => online,
            (None, true) => return None,
        };
        Some(*pick(rng, pool))
    }

    /// Simulates one user's year: sessions, consultations, favourites,
    /// bookings under credit and distance, cancellations, and the drift of
    /// tastes after discoveries. Returns the interactions (by time) and the
    /// credit left.
    pub fn simulate_user(&self, index: usize) -> (Vec<Interaction>, i64) {
        let (out, credit, _) = self.simulate_user_taste(index);
        (out, credit)
    }

    /// [`World::simulate_user`], with the user's tastes at the period's end (after the year's drift):
    /// where a closed-loop simulation picks the user up.
    pub fn simulate_user_taste(&self, index: usize) -> (Vec<Interaction>, i64, UserTaste) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed_for(self.config.seed, index as u64));
        let user = &self.users[index];
        let mut taste = self.truth.users[index].clone();
        let model = &self.config.behaviour;
        let department = self.pools.departments.binary_search(&user.department.as_str()).ok();
        let mut credit = user.credit_cents;
        let mean = (self.config.sessions_per_user * taste.activity).max(0.1);
        let sessions = Poisson::new(mean).expect("positive mean").sample(&mut rng) as usize + 1;
        let start = Timestamp::from_date(self.config.start).seconds();
        let span = self.config.days * Timestamp::DAY;
        let mut times: Vec<i64> = (0..sessions).map(|_| start + rng.random_range(0..span)).collect();
        times.sort_unstable();
        let mut out = Vec::new();
        let mut seq = 0u32;
        let mut booked = std::collections::HashSet::new();
        let next_id = |seq: &mut u32| {
            *seq += 1;
            format!("{}-{:05}", user.id, seq)
        };
        let mut shown_count = 0u32;
        for (session, t) in times.into_iter().enumerate() {
            let mut clock = t;
            let call_id = format!("{}-s{:04}", user.id, session);
            let mut position = 0u32;
            for _ in 0..self.config.shown_per_session {
                // The app shows what can be booked now: draw again (a few times) past what cannot.
                let mut shown = None;
                for _ in 0..4 {
                    let Some(o) = self.candidate(&mut rng, index, department) else { continue };
                    if self.offers[o as usize].is_bookable_at(Timestamp(clock)) && !booked.contains(&o) {
                        shown = Some(o);
                        break;
                    }
                }
                let Some(o) = shown else { continue };
                let offer = &self.offers[o as usize];
                if self.config.log_impressions {
                    // The app's log of what it showed; ids in their own series so that the
                    // other interactions keep theirs.
                    shown_count += 1;
                    out.push(Interaction {
                        id: format!("{}-i{:05}", user.id, shown_count),
                        user_id: user.id.clone(),
                        offer_id: offer.id.clone(),
                        at: Timestamp(clock),
                        kind: InteractionKind::Impression {
                            call_id: call_id.clone(),
                            position,
                            model_version: LOGGER_VERSION.to_owned(),
                            propensity: self.draw_probability(index, department, o),
                            // Each shown offer is an independent draw: no list prefix to speak of.
                            prefix_propensity: None,
                        },
                    });
                }
                position += 1;
                let distance = self.distance_km(user, offer);
                let utility = model.utility(&taste, offer, self.truth.offer_quality[o as usize], distance);
                if !rng.random_bool(model.p_consult(utility)) {
                    continue;
                }
                clock += rng.random_range(20..240);
                let at = Timestamp(clock);
                out.push(Interaction {
                    id: next_id(&mut seq),
                    user_id: user.id.clone(),
                    offer_id: offer.id.clone(),
                    at,
                    kind: InteractionKind::Consultation,
                });
                if rng.random_bool(model.favourite_rate) {
                    clock += rng.random_range(2..30);
                    out.push(Interaction {
                        id: next_id(&mut seq),
                        user_id: user.id.clone(),
                        offer_id: offer.id.clone(),
                        at: Timestamp(clock),
                        kind: InteractionKind::Favourite,
                    });
                }
                let quantity = if offer.duo && rng.random_bool(0.2) { 2 } else { 1 };
                let amount = offer.price_cents * i64::from(quantity);
                if amount > credit || !rng.random_bool(model.p_book(utility)) {
                    continue;
                }
                clock += rng.random_range(10..120);
                if !offer.is_bookable_at(Timestamp(clock)) {
                    continue;
                }
                credit -= amount;
                let booking_id = next_id(&mut seq);
                out.push(Interaction {
                    id: booking_id.clone(),
                    user_id: user.id.clone(),
                    offer_id: offer.id.clone(),
                    at: Timestamp(clock),
                    kind: InteractionKind::Booking { amount_cents: amount, quantity },
                });
                booked.insert(o);
                let c = offer.category().index();
                if taste.categories[c] < 0.05 {
                    // A discovery: open users take to the new category.
                    taste.categories[c] += model.drift * taste.openness;
                    let total: f64 = taste.categories.iter().sum();
                    taste.categories.iter_mut().for_each(|w| *w /= total);
                }
                if rng.random_bool(model.cancel_rate) {
                    let delay = rng.random_range(600..2 * Timestamp::DAY);
                    let cancel_at = offer.event_start.map_or(clock + delay, |s| (clock + delay).min(s.0));
                    credit += amount;
                    out.push(Interaction {
                        id: next_id(&mut seq),
                        user_id: user.id.clone(),
                        offer_id: offer.id.clone(),
                        at: Timestamp(cancel_at.max(clock)),
                        kind: InteractionKind::Cancellation { booking_id },
                    });
                }
            }
        }
        out.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        (out, credit, taste)
    }

    /// Simulates every user, in blocks of `block` users run in parallel;
    /// `emit` receives each block's interactions in user order. Returns every
    /// user's credit left (the users' `credit_cents` as of the period's end).
    pub fn simulate(&self, block: usize, emit: &mut dyn FnMut(Vec<Interaction>)) -> Vec<i64> {
        let mut credits = Vec::with_capacity(self.users.len());
        for first in (0..self.users.len()).step_by(block.max(1)) {
            let last = (first + block.max(1)).min(self.users.len());
            let results: Vec<(Vec<Interaction>, i64)> =
                (first..last).into_par_iter().map(|u| self.simulate_user(u)).collect();
            let mut interactions = Vec::new();
            for (mut list, credit) in results {
                interactions.append(&mut list);
                credits.push(credit);
            }
            emit(interactions);
        }
        credits
    }

    /// The users with their credit after the simulation.
    pub fn users_with_credit(&self, credits: &[i64]) -> Vec<User> {
        self.users.iter().zip(credits).map(|(u, c)| User { credit_cents: *c, ..u.clone() }).collect()
    }
}
