//! French words from which titles, descriptions and names are composed, so
//! that an offer's text says what it is about.

/// Keywords by book macro-section (others fall back to [`BOOK_GENERIC`]).
pub const BOOK_SECTIONS: &[(&str, &[&str])] = &[
    ("Manga", &["ninja", "lycée", "démon", "samouraï", "destin", "pouvoir", "tournoi", "esprit"]),
    ("Bandes dessinées", &["aventure", "héros", "bulles", "pirates", "galaxie", "détective", "chevalier"]),
    ("Policier", &["meurtre", "enquête", "inspecteur", "crime", "suspect", "mystère", "disparition"]),
    ("Littérature française", &["roman", "famille", "mémoire", "amour", "province", "exil", "jeunesse"]),
    ("Littérature étrangère", &["voyage", "frontière", "traduction", "exil", "saga", "océan", "désert"]),
    ("Littérature Européenne", &["Europe", "Berlin", "Rome", "guerre", "saga", "héritage", "Lisbonne"]),
    (
        "Science-fiction, fantastique & terreur",
        &["vaisseau", "planète", "robot", "dragon", "magie", "cauchemar", "futur"],
    ),
    ("Jeunesse", &["école", "amitié", "dragon", "forêt", "secret", "vacances", "licorne"]),
    ("Histoire", &["révolution", "empire", "siècle", "bataille", "roi", "archives", "Résistance"]),
    ("Poésie, théâtre et spectacle", &["poèmes", "vers", "scène", "tragédie", "comédie", "alexandrins"]),
    ("Sciences Humaines, Encyclopédie, dictionnaire", &["société", "philosophie", "savoir", "pensée", "dictionnaire"]),
    ("Scolaire & Parascolaire", &["bac", "révisions", "exercices", "mathématiques", "cours", "méthode"]),
    ("Sciences, vie & Nature", &["climat", "océans", "animaux", "planète", "évolution", "cosmos"]),
    ("Sport", &["football", "entraînement", "champion", "course", "match", "olympique"]),
    ("Art", &["peinture", "musée", "atelier", "couleurs", "sculpture", "impressionnistes"]),
    ("Arts Culinaires", &["recettes", "cuisine", "pâtisserie", "saveurs", "chef", "marché"]),
    ("Psychanalyse, psychologie", &["émotions", "esprit", "inconscient", "confiance", "rêves"]),
    ("Faits, témoignages", &["témoignage", "vérité", "parcours", "combat", "récit", "vie"]),
];

/// Keywords for book sections without their own list.
pub const BOOK_GENERIC: &[&str] = &["guide", "chapitres", "découverte", "pratique", "essentiel", "monde"];

/// Keywords by music genre label.
pub const MUSIC_GENRES: &[(&str, &[&str])] = &[
    ("Musique Classique", &["symphonie", "orchestre", "piano", "violon", "concerto", "opus"]),
    ("Jazz / Blues", &["swing", "saxophone", "improvisation", "trio", "blues", "contrebasse"]),
    ("Electro", &["beats", "synthé", "club", "techno", "house", "DJ"]),
    ("Pop", &["refrain", "tubes", "mélodie", "pop", "single", "tournée"]),
    ("Rock", &["guitare", "riffs", "batterie", "rock", "électrique", "scène"]),
    ("Metal", &["metal", "riffs", "headbang", "double pédale", "saturé", "pogo"]),
    ("Alternatif", &["indé", "alternatif", "expérimental", "garage", "shoegaze"]),
    ("Variétés", &["chanson", "variété", "française", "paroles", "crooner"]),
    ("Funk / Soul / RnB / Disco", &["groove", "soul", "funk", "disco", "RnB", "voix"]),
    ("Rap/ Hip Hop", &["rap", "flow", "punchlines", "hip-hop", "beatmaker", "freestyle"]),
    ("Reggae / Ragga", &["reggae", "dub", "ragga", "Jamaïque", "sound system"]),
    ("Musique du monde", &["afrobeat", "kora", "flamenco", "raï", "percussions", "griot"]),
    ("Country / Folk", &["folk", "banjo", "ballades", "acoustique", "country"]),
    ("Ambiance", &["ambient", "chill", "relaxation", "nappes", "lounge"]),
];

/// Keywords by show type label.
pub const SHOW_TYPES: &[(&str, &[&str])] = &[
    ("Théâtre", &["pièce", "comédiens", "Molière", "drame", "mise en scène", "tirade"]),
    ("Humour / Café-théâtre", &["humour", "stand-up", "sketchs", "rire", "one-man-show"]),
    ("Cirque", &["cirque", "acrobates", "jongleurs", "chapiteau", "trapèze", "clowns"]),
    ("Danse", &["danse", "chorégraphie", "ballet", "hip-hop", "danseurs", "contemporaine"]),
    ("Opéra", &["opéra", "soprano", "livret", "orchestre", "aria", "ténor"]),
    ("Arts de la rue", &["rue", "parade", "fanfare", "plein air", "marionnettes géantes"]),
    ("Spectacle Musical / Cabaret / Opérette", &["comédie musicale", "cabaret", "revue", "chansons"]),
    ("Spectacle Jeunesse", &["conte", "marionnettes", "jeune public", "magie", "famille"]),
];

/// Keywords by movie genre code.
pub const MOVIE_GENRES: &[(&str, &[&str])] = &[
    ("ACTION", &["poursuite", "explosion", "mission", "commando", "course-poursuite"]),
    ("ANIMATION", &["animation", "dessin animé", "studio", "personnages", "famille"]),
    ("COMEDY", &["comédie", "quiproquo", "rire", "vacances", "mariage"]),
    ("DRAMA", &["drame", "famille", "deuil", "destin", "émotion"]),
    ("DOCUMENTARY", &["documentaire", "enquête", "nature", "société", "témoins"]),
    ("HORROR", &["horreur", "maison hantée", "peur", "nuit", "créature"]),
    ("SCIENCE_FICTION", &["espace", "futur", "androïde", "planète", "voyage temporel"]),
    ("THRILLER", &["suspense", "complot", "traque", "tension", "secret"]),
    ("ROMANCE", &["amour", "rencontre", "coup de foudre", "été", "lettres"]),
    ("ADVENTURE", &["aventure", "jungle", "trésor", "expédition", "île"]),
];

/// Keywords by category for offers without a genre.
pub const CATEGORY_WORDS: &[(&str, &[&str])] = &[
    ("MUSEE", &["exposition", "collections", "patrimoine", "visite", "chefs-d'œuvre", "château"]),
    ("PRATIQUE_ART", &["atelier", "initiation", "pratique", "cours", "création", "stage"]),
    ("INSTRUMENT", &["guitare", "piano", "ukulélé", "batterie", "partition", "violon"]),
    ("MEDIA", &["presse", "abonnement", "actualité", "magazine", "podcast", "reportages"]),
    ("JEU", &["jeu", "escape game", "énigmes", "plateau", "tournoi", "console"]),
    ("CONFERENCE", &["rencontre", "auteur", "débat", "conférence", "métiers", "dédicace"]),
    ("BEAUX_ARTS", &["pinceaux", "peinture", "carnet", "aquarelle", "fusains", "toile"]),
    ("CARTE_JEUNES", &["carte", "réductions", "jeunes", "avantages"]),
    ("CINEMA", &["séance", "cinéma", "avant-première", "projection", "film"]),
    ("FILM", &["film", "série", "coffret", "streaming", "vidéo"]),
];

/// Nouns that titles are built around.
pub const TITLE_NOUNS: &[&str] = &[
    "Le Secret",
    "La Nuit",
    "L'Été",
    "Le Dernier Voyage",
    "La Promesse",
    "Les Ombres",
    "Le Chant",
    "La Route",
    "Le Rêve",
    "Les Enfants",
    "La Maison",
    "Le Silence",
    "La Lumière",
    "Le Royaume",
    "Les Étoiles",
    "La Mémoire",
];

/// Complements that titles end with.
pub const TITLE_COMPLEMENTS: &[&str] = &[
    "de minuit",
    "du Nord",
    "sous la pluie",
    "des oubliés",
    "de Marseille",
    "d'hiver",
    "du bout du monde",
    "des possibles",
    "sans retour",
    "de la ville",
    "au bord de l'eau",
    "des mille vies",
];

/// First names for authors and performers.
pub const FIRST_NAMES: &[&str] = &[
    "Camille", "Léa", "Hugo", "Inès", "Yanis", "Manon", "Lucas", "Chloé", "Nathan", "Aya", "Jules", "Sarah", "Adam",
    "Louise", "Rayan", "Zoé", "Mathis", "Jade", "Amine", "Clara", "Théo", "Lina", "Noah", "Emma",
];

/// Last names for authors and performers.
pub const LAST_NAMES: &[&str] = &[
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau", "Simon",
    "Laurent", "Lefebvre", "Michel", "Garcia", "Benali", "Nguyen", "Diallo", "Fontaine", "Rousseau", "Mercier",
];

/// Words in venue names, by venue type code.
pub const VENUE_NAMES: &[(&str, &str)] = &[
    ("BOOKSTORE", "Librairie"),
    ("CONCERT_HALL", "Salle de concerts"),
    ("PERFORMING_ARTS", "Théâtre"),
    ("RECORD_STORE", "Disquaire"),
    ("MOVIE", "Cinéma"),
    ("MUSEUM", "Musée"),
    ("LIBRARY", "Médiathèque"),
    ("CULTURAL_CENTRE", "Centre culturel"),
    ("ARTISTIC_COURSE", "Atelier"),
    ("FESTIVAL", "Festival"),
    ("GAMES", "Ludothèque"),
    ("MUSICAL_INSTRUMENT_STORE", "Magasin de musique"),
    ("DISTRIBUTION_STORE", "Espace culturel"),
    ("CREATIVE_ARTS_STORE", "Beaux-arts"),
    ("PATRIMONY_TOURISM", "Château"),
    ("SCIENTIFIC_CULTURE", "Cité des sciences"),
    ("VISUAL_ARTS", "Galerie"),
    ("DIGITAL", "Plateforme"),
];

/// Look a keyword list up.
pub fn words<'a>(table: &'a [(&str, &'a [&'a str])], key: &str) -> Option<&'a [&'a str]> {
    table.iter().find(|(k, _)| *k == key).map(|(_, w)| *w)
}
