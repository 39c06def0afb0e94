//! The pass Culture offer taxonomy, embedded from `data/taxonomy/*.tsv` and
//! validated when first loaded.
//!
//! Each dimension (categories, subcategories, venue types, book
//! macro-sections, music genres, show types, movie genres, search groups) is a
//! [`Vocabulary`]: entries with a canonical `code` and a human `label`, looked
//! up by either. Entities hold small typed indexes ([`SubcategoryId`], ...)
//! into the one process-wide [`Taxonomy::embedded`].

use crate::error::{DomainError, Result};
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

/// How a booking of a subcategory is consumed: the diversification score's format criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// A thing handed over (a book, a record, an instrument, a card).
    Physical,
    /// A thing used online (e-book, streaming, online press).
    Digital,
    /// Something that happens at a time (show, concert, screening, workshop).
    Event,
}

impl Format {
    /// All formats, in a fixed order.
    pub const ALL: [Format; 3] = [Format::Physical, Format::Digital, Format::Event];

    /// The lower-case code used in files (`physical`, `digital`, `event`).
    pub fn code(self) -> &'static str {
        match self {
            Format::Physical => "physical",
            Format::Digital => "digital",
            Format::Event => "event",
        }
    }

    /// Parses a lower-case code.
    pub fn parse(code: &str) -> Result<Format> {
        match code {
            "physical" => Ok(Format::Physical),
            "digital" => Ok(Format::Digital),
            "event" => Ok(Format::Event),
            _ => Err(DomainError::UnknownCode { kind: "format", value: code.to_owned() }),
        }
    }
}

/// Where an offer of a subcategory is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    /// At a physical venue.
    Offline,
    /// Online; no physical venue.
    Online,
    /// Either (technical subcategories).
    OnlineOrOffline,
}

/// One entry of a vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The canonical code written in files (`LIVRE_PAPIER`, `BOOKSTORE`, `Manga`).
    pub code: String,
    /// The human label (`Livre papier`, `Librairie`, `Manga`).
    pub label: String,
}

/// A list of entries, searchable by code or label.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    kind: &'static str,
    entries: Vec<Entry>,
    by_key: HashMap<String, u16>,
}

impl Vocabulary {
    fn new(kind: &'static str) -> Vocabulary {
        Vocabulary { kind, entries: Vec::new(), by_key: HashMap::new() }
    }

    fn push(&mut self, file: &'static str, line: usize, code: &str, label: &str) -> Result<u16> {
        let index = u16::try_from(self.entries.len()).expect("vocabularies are small");
        if self.by_key.contains_key(code) {
            return Err(DomainError::TaxonomyFile { file, line, reason: format!("duplicate code {code:?}") });
        }
        self.by_key.insert(code.to_owned(), index);
        // Labels are a second key when they do not collide with another entry's code or label.
        self.by_key.entry(label.to_owned()).or_insert(index);
        self.by_key.entry(label.to_lowercase()).or_insert(index);
        self.entries.push(Entry { code: code.to_owned(), label: label.to_owned() });
        Ok(index)
    }

    /// What this vocabulary lists ("subcategory", "venue type", ...).
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, in file order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry at an index.
    pub fn get(&self, index: u16) -> &Entry {
        &self.entries[usize::from(index)]
    }

    /// Index of the entry whose code or label is `key` (labels also match case-insensitively).
    pub fn find(&self, key: &str) -> Result<u16> {
        let key = key.trim();
        self.by_key
            .get(key)
            .or_else(|| self.by_key.get(&key.to_lowercase()))
            .copied()
            .ok_or_else(|| DomainError::UnknownCode { kind: self.kind, value: key.to_owned() })
    }
}

macro_rules! taxonomy_id {
    ($(#[$doc:meta])* $name:ident, $field:ident, $canonical:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u16);

        impl $name {
            /// Looks a code or label up in the embedded taxonomy.
            pub fn parse(key: &str) -> Result<$name> {
                Taxonomy::embedded().$field.find(key).map($name)
            }

            /// The entry in the embedded taxonomy.
            pub fn entry(self) -> &'static Entry {
                Taxonomy::embedded().$field.get(self.0)
            }

            /// The canonical text written in files.
            pub fn canonical(self) -> &'static str {
                &self.entry().$canonical
            }

            /// The human label.
            pub fn label(self) -> &'static str {
                &self.entry().label
            }

            /// Every value, in taxonomy order.
            pub fn all() -> impl Iterator<Item = $name> {
                (0..Taxonomy::embedded().$field.len() as u16).map($name)
            }

            /// Index, usable as a dense array position.
            pub fn index(self) -> usize {
                usize::from(self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.canonical())
            }
        }
    };
}

taxonomy_id!(
    /// An offer category (`LIVRE`, `MUSIQUE_LIVE`, ...), written by its code.
    CategoryId, categories, code
);
taxonomy_id!(
    /// An offer subcategory (`LIVRE_PAPIER`, `CONCERT`, ...), written by its code.
    SubcategoryId, subcategories, code
);
taxonomy_id!(
    /// A venue type (`BOOKSTORE`, `CONCERT_HALL`, ...), written by its code.
    VenueTypeId, venue_types, code
);
taxonomy_id!(
    /// A book macro-section ("macro rayon": `Manga`, `Policier`, ...), written by its label.
    BookSectionId, book_macro_sections, label
);
taxonomy_id!(
    /// A music genre (Titelive genre: `Rap/ Hip Hop`, `Jazz / Blues`, ...), written by its label.
    MusicGenreId, music_genres, label
);
taxonomy_id!(
    /// A live show type (`Théâtre`, `Cirque`, `Humour / Café-théâtre`, ...), written by its label.
    ShowTypeId, show_types, label
);
taxonomy_id!(
    /// A movie genre (`ACTION`, `DOCUMENTARY`, ...), written by its code.
    MovieGenreId, movie_genres, code
);
taxonomy_id!(
    /// A search group of the app (`LIVRES`, `SPECTACLES`, ...), written by its code.
    SearchGroupId, search_groups, code
);

/// What the taxonomy says about a subcategory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubcategoryInfo {
    /// Its category.
    pub category: CategoryId,
    /// Its app search group.
    pub search_group: SearchGroupId,
    /// True for events (shows, screenings, workshops, ...).
    pub is_event: bool,
    /// Where it is used.
    pub platform: Platform,
    /// The diversification format.
    pub format: Format,
    /// Whether a duo booking (two places) is allowed.
    pub can_be_duo: bool,
    /// False for technical subcategories.
    pub is_selectable: bool,
    /// Whether users under 18 may book it when it is free.
    pub underage_when_free: bool,
    /// Whether users under 18 may book it when it is not free.
    pub underage_when_not_free: bool,
}

impl SubcategoryInfo {
    /// The youngest age allowed to book an offer of this subcategory at this price
    /// (the platform's minimum age is 15; some offers are for adults only).
    pub fn minimum_age(&self, price_cents: i64) -> u8 {
        let allowed = if price_cents == 0 { self.underage_when_free } else { self.underage_when_not_free };
        if allowed { 15 } else { 18 }
    }
}

/// Extra facts on venue types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueTypeInfo {
    /// Still used by the platform (`ADMINISTRATIVE` is a legacy type).
    pub is_current: bool,
}

/// The whole taxonomy.
#[derive(Debug, Clone)]
pub struct Taxonomy {
    /// Offer categories.
    pub categories: Vocabulary,
    /// Whether each category can be chosen for an offer (`TECHNIQUE` cannot).
    pub category_selectable: Vec<bool>,
    /// Offer subcategories.
    pub subcategories: Vocabulary,
    /// Facts on each subcategory, by index.
    pub subcategory_info: Vec<SubcategoryInfo>,
    /// Venue types.
    pub venue_types: Vocabulary,
    /// Facts on each venue type, by index.
    pub venue_type_info: Vec<VenueTypeInfo>,
    /// Book macro-sections.
    pub book_macro_sections: Vocabulary,
    /// Current music genres (Titelive).
    pub music_genres: Vocabulary,
    /// Whether each music genre exists for live events.
    pub music_genre_can_be_event: Vec<bool>,
    /// Live show types.
    pub show_types: Vocabulary,
    /// Show subtypes, as (show type, code, label).
    pub show_subtypes: Vec<(ShowTypeId, String, String)>,
    /// Movie genres.
    pub movie_genres: Vocabulary,
    /// App search groups.
    pub search_groups: Vocabulary,
    /// Legacy music types and subtypes, as (type code, type label, subtype code, subtype label).
    pub legacy_music_types: Vec<[String; 4]>,
}

const FILES: [(&str, &str); 9] = [
    ("categories.tsv", include_str!("../data/taxonomy/categories.tsv")),
    ("subcategories.tsv", include_str!("../data/taxonomy/subcategories.tsv")),
    ("venue_types.tsv", include_str!("../data/taxonomy/venue_types.tsv")),
    ("book_macro_sections.tsv", include_str!("../data/taxonomy/book_macro_sections.tsv")),
    ("music_types_titelive.tsv", include_str!("../data/taxonomy/music_types_titelive.tsv")),
    ("show_types.tsv", include_str!("../data/taxonomy/show_types.tsv")),
    ("movie_genres.tsv", include_str!("../data/taxonomy/movie_genres.tsv")),
    ("search_groups.tsv", include_str!("../data/taxonomy/search_groups.tsv")),
    ("music_types_legacy.tsv", include_str!("../data/taxonomy/music_types_legacy.tsv")),
];

/// A TSV file: header names, then rows as (line number, cells by header).
struct Tsv<'a> {
    file: &'static str,
    header: Vec<&'a str>,
    rows: Vec<(usize, Vec<&'a str>)>,
}

impl<'a> Tsv<'a> {
    fn parse(file: &'static str, text: &'a str) -> Result<Tsv<'a>> {
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        let header: Vec<&str> = lines
            .next()
            .ok_or(DomainError::TaxonomyFile { file, line: 1, reason: "empty file".into() })?
            .1
            .split('\t')
            .collect();
        let mut rows = Vec::new();
        for (i, line) in lines {
            let cells: Vec<&str> = line.split('\t').collect();
            if cells.len() != header.len() {
                return Err(DomainError::TaxonomyFile {
                    file,
                    line: i + 1,
                    reason: format!("{} cells, the header has {}", cells.len(), header.len()),
                });
            }
            rows.push((i + 1, cells));
        }
        Ok(Tsv { file, header, rows })
    }

    fn col(&self, name: &str) -> Result<usize> {
        self.header.iter().position(|h| *h == name).ok_or(DomainError::TaxonomyFile {
            file: self.file,
            line: 1,
            reason: format!("missing column {name:?}"),
        })
    }

    fn bool(&self, line: usize, value: &str) -> Result<bool> {
        match value {
            "true" | "True" => Ok(true),
            "false" | "False" => Ok(false),
            other => Err(DomainError::TaxonomyFile {
                file: self.file,
                line,
                reason: format!("{other:?} is not true or false"),
            }),
        }
    }
}

impl Taxonomy {
    /// The taxonomy embedded in the binary, parsed and validated once.
    ///
    /// # Panics
    /// If the embedded files are invalid; a test guarantees they are not.
    pub fn embedded() -> &'static Taxonomy {
        static TAXONOMY: OnceLock<Taxonomy> = OnceLock::new();
        TAXONOMY.get_or_init(|| {
            let files: Vec<(&'static str, &'static str)> = FILES.to_vec();
            Taxonomy::from_files(&files).expect("the embedded taxonomy is valid (tested)")
        })
    }

    /// Parses and validates taxonomy files given as (file name, contents).
    /// Every file of the embedded set must be present.
    pub fn from_files(files: &[(&'static str, &str)]) -> Result<Taxonomy> {
        let get = |name: &'static str| -> Result<Tsv<'_>> {
            let text = files.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).ok_or(DomainError::TaxonomyFile {
                file: name,
                line: 0,
                reason: "file missing".into(),
            })?;
            Tsv::parse(name, text)
        };

        let mut categories = Vocabulary::new("category");
        let mut category_selectable = Vec::new();
        let t = get("categories.tsv")?;
        let (id, label, sel) = (t.col("id")?, t.col("pro_label")?, t.col("is_selectable")?);
        for (line, row) in &t.rows {
            categories.push(t.file, *line, row[id], row[label])?;
            category_selectable.push(t.bool(*line, row[sel])?);
        }

        let mut search_groups = Vocabulary::new("search group");
        let t = get("search_groups.tsv")?;
        let name = t.col("search_group_name")?;
        for (line, row) in &t.rows {
            search_groups.push(t.file, *line, row[name], row[name])?;
        }

        let mut subcategories = Vocabulary::new("subcategory");
        let mut subcategory_info = Vec::new();
        let t = get("subcategories.tsv")?;
        let cols = [
            "id",
            "category_id",
            "app_label",
            "search_group_name",
            "is_event",
            "online_offline_platform",
            "diversity_format",
            "can_be_duo",
            "is_selectable",
        ]
        .map(|c| t.col(c));
        let [id, cat, label, group, is_event, platform, format, duo, sel] = cols;
        let (id, cat, label, group, is_event, platform, format, duo, sel) =
            (id?, cat?, label?, group?, is_event?, platform?, format?, duo?, sel?);
        // Optional columns: absent means "allowed".
        let underage_free = t.col("is_bookable_by_underage_when_free").ok();
        let underage_paid = t.col("is_bookable_by_underage_when_not_free").ok();
        for (line, row) in &t.rows {
            let bad = |reason: String| DomainError::TaxonomyFile { file: "subcategories.tsv", line: *line, reason };
            subcategories.push(t.file, *line, row[id], row[label])?;
            let category = categories.find(row[cat]).map_err(|e| bad(e.to_string()))?;
            let search_group = search_groups.find(row[group]).map_err(|e| bad(e.to_string()))?;
            let platform = match row[platform] {
                "OFFLINE" => Platform::Offline,
                "ONLINE" => Platform::Online,
                "ONLINE_OR_OFFLINE" => Platform::OnlineOrOffline,
                other => return Err(bad(format!("unknown platform {other:?}"))),
            };
            let is_event = t.bool(*line, row[is_event])?;
            let format = Format::parse(row[format]).map_err(|e| bad(e.to_string()))?;
            // The README's derivation: events are `event`, online-only things `digital`, the rest `physical`.
            let derived = if is_event {
                Format::Event
            } else if platform == Platform::Online {
                Format::Digital
            } else {
                Format::Physical
            };
            if derived != format {
                return Err(bad(format!(
                    "diversity_format {} contradicts is_event/platform, which give {}",
                    format.code(),
                    derived.code()
                )));
            }
            subcategory_info.push(SubcategoryInfo {
                category: CategoryId(category),
                search_group: SearchGroupId(search_group),
                is_event,
                platform,
                format,
                can_be_duo: t.bool(*line, row[duo])?,
                is_selectable: t.bool(*line, row[sel])?,
                underage_when_free: underage_free.map_or(Ok(true), |c| t.bool(*line, row[c]))?,
                underage_when_not_free: underage_paid.map_or(Ok(true), |c| t.bool(*line, row[c]))?,
            });
        }

        let mut venue_types = Vocabulary::new("venue type");
        let mut venue_type_info = Vec::new();
        let t = get("venue_types.tsv")?;
        let (code, label, note) = (t.col("code")?, t.col("label")?, t.col("note")?);
        for (line, row) in &t.rows {
            venue_types.push(t.file, *line, row[code], row[label])?;
            venue_type_info.push(VenueTypeInfo { is_current: !row[note].contains("older versions only") });
        }

        let mut book_macro_sections = Vocabulary::new("book macro-section");
        let t = get("book_macro_sections.tsv")?;
        let c = t.col("macro_section")?;
        for (line, row) in &t.rows {
            book_macro_sections.push(t.file, *line, row[c], row[c])?;
        }

        let mut music_genres = Vocabulary::new("music genre");
        let mut music_genre_can_be_event = Vec::new();
        let t = get("music_types_titelive.tsv")?;
        let (code, label, ev) = (t.col("gtl_id")?, t.col("label")?, t.col("can_be_event")?);
        for (line, row) in &t.rows {
            let i = music_genres.push(t.file, *line, row[code], row[label])?;
            music_genres.by_key.insert(row[code].to_owned(), i);
            music_genre_can_be_event.push(t.bool(*line, row[ev])?);
        }

        let mut show_types = Vocabulary::new("show type");
        let mut show_subtypes = Vec::new();
        let t = get("show_types.tsv")?;
        let (tc, tl, sc, sl) =
            (t.col("type_code")?, t.col("type_label")?, t.col("sub_type_code")?, t.col("sub_type_label")?);
        for (line, row) in &t.rows {
            let index = match show_types.find(row[tc]) {
                Ok(i) => i,
                Err(_) => show_types.push(t.file, *line, row[tc], row[tl])?,
            };
            show_subtypes.push((ShowTypeId(index), row[sc].to_owned(), row[sl].to_owned()));
        }

        let mut movie_genres = Vocabulary::new("movie genre");
        let t = get("movie_genres.tsv")?;
        let (code, label) = (t.col("name")?, t.col("label")?);
        for (line, row) in &t.rows {
            movie_genres.push(t.file, *line, row[code], row[label])?;
        }

        let t = get("music_types_legacy.tsv")?;
        let cols = [t.col("type_code")?, t.col("type_label")?, t.col("sub_type_code")?, t.col("sub_type_label")?];
        let legacy_music_types = t.rows.iter().map(|(_, row)| cols.map(|c| row[c].to_owned())).collect();

        Ok(Taxonomy {
            categories,
            category_selectable,
            subcategories,
            subcategory_info,
            venue_types,
            venue_type_info,
            book_macro_sections,
            music_genres,
            music_genre_can_be_event,
            show_types,
            show_subtypes,
            movie_genres,
            search_groups,
            legacy_music_types,
        })
    }

    /// Facts on a subcategory.
    pub fn subcategory(&self, id: SubcategoryId) -> &SubcategoryInfo {
        &self.subcategory_info[id.index()]
    }

    /// The subcategories of a category.
    pub fn subcategories_of(&self, category: CategoryId) -> impl Iterator<Item = SubcategoryId> + '_ {
        self.subcategory_info
            .iter()
            .enumerate()
            .filter(move |(_, info)| info.category == category)
            .map(|(i, _)| SubcategoryId(i as u16))
    }
}

impl SubcategoryId {
    /// Facts on this subcategory.
    pub fn info(self) -> &'static SubcategoryInfo {
        Taxonomy::embedded().subcategory(self)
    }

    /// Its category.
    pub fn category(self) -> CategoryId {
        self.info().category
    }

    /// Its diversification format.
    pub fn format(self) -> Format {
        self.info().format
    }
}

/// Which genre-like criterion applies to offers of a category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GenreKind {
    /// Book macro-section (category `LIVRE`).
    BookSection,
    /// Music genre (`MUSIQUE_LIVE`, `MUSIQUE_ENREGISTREE`).
    MusicGenre,
    /// Show type (`SPECTACLE`).
    ShowType,
    /// Movie genre (`CINEMA`, `FILM`).
    MovieGenre,
}

impl CategoryId {
    /// The genre-like field that offers of this category may carry, if any.
    pub fn genre_kind(self) -> Option<GenreKind> {
        match self.canonical() {
            "LIVRE" => Some(GenreKind::BookSection),
            "MUSIQUE_LIVE" | "MUSIQUE_ENREGISTREE" => Some(GenreKind::MusicGenre),
            "SPECTACLE" => Some(GenreKind::ShowType),
            "CINEMA" | "FILM" => Some(GenreKind::MovieGenre),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_taxonomy_has_the_published_counts() {
        let t = Taxonomy::embedded();
        assert_eq!(t.categories.len(), 15);
        assert_eq!(t.category_selectable.iter().filter(|s| !**s).count(), 1);
        assert_eq!(t.subcategories.len(), 73);
        assert_eq!(t.venue_types.len(), 21);
        assert_eq!(t.book_macro_sections.len(), 35);
        assert_eq!(t.music_genres.len(), 19);
        assert_eq!(t.show_types.len(), 11);
        assert_eq!(t.show_subtypes.len(), 85);
        assert_eq!(t.movie_genres.len(), 33);
        assert_eq!(t.search_groups.len(), 17);
        assert_eq!(t.legacy_music_types.len(), 200);
    }

    #[test]
    fn formats_follow_from_subcategories() {
        let check = |code: &str, category: &str, format: Format| {
            let s = SubcategoryId::parse(code).unwrap();
            assert_eq!(s.category().canonical(), category, "{code}");
            assert_eq!(s.format(), format, "{code}");
        };
        check("LIVRE_PAPIER", "LIVRE", Format::Physical);
        check("LIVRE_NUMERIQUE", "LIVRE", Format::Digital);
        check("CONCERT", "MUSIQUE_LIVE", Format::Event);
        check("SPECTACLE_REPRESENTATION", "SPECTACLE", Format::Event);
        check("SUPPORT_PHYSIQUE_MUSIQUE_VINYLE", "MUSIQUE_ENREGISTREE", Format::Physical);
        check("ABO_PLATEFORME_MUSIQUE", "MUSIQUE_ENREGISTREE", Format::Digital);
        check("LIVESTREAM_MUSIQUE", "MUSIQUE_LIVE", Format::Event);
        let t = Taxonomy::embedded();
        let count = |f: Format| t.subcategory_info.iter().filter(|i| i.format == f).count();
        assert_eq!(count(Format::Event) + count(Format::Digital) + count(Format::Physical), 73);
        assert_eq!(count(Format::Digital), 20);
        assert_eq!(count(Format::Event), 28);
    }

    #[test]
    fn codes_and_labels_both_resolve() {
        assert_eq!(VenueTypeId::parse("BOOKSTORE").unwrap().label(), "Librairie");
        assert_eq!(VenueTypeId::parse("Librairie").unwrap().canonical(), "BOOKSTORE");
        assert_eq!(MusicGenreId::parse("11000000").unwrap().canonical(), "Rap/ Hip Hop");
        assert_eq!(MusicGenreId::parse("rap/ hip hop").unwrap().canonical(), "Rap/ Hip Hop");
        assert_eq!(ShowTypeId::parse("1300").unwrap().canonical(), "Théâtre");
        assert_eq!(BookSectionId::parse("Manga").unwrap().canonical(), "Manga");
        assert_eq!(MovieGenreId::parse("Comédie").unwrap().canonical(), "COMEDY");
        let err = SubcategoryId::parse("LIVRE_PAPYRUS").unwrap_err();
        assert_eq!(err.to_string(), "unknown subcategory \"LIVRE_PAPYRUS\"");
    }

    #[test]
    fn malformed_files_are_refused_with_file_and_line() {
        let mut files: Vec<(&'static str, &str)> = FILES.to_vec();
        let broken = "id\tcategory_id\tapp_label\tsearch_group_name\tis_event\tonline_offline_platform\tdiversity_format\tcan_be_duo\tis_selectable\n\
                      X\tLIVRE\tX\tLIVRES\ttrue\tOFFLINE\tphysical\tfalse\ttrue\n";
        files[1] = ("subcategories.tsv", broken);
        match Taxonomy::from_files(&files) {
            Err(DomainError::TaxonomyFile { file, line, reason }) => {
                assert_eq!((file, line), ("subcategories.tsv", 2));
                assert!(reason.contains("contradicts"), "{reason}");
            }
            other => panic!("expected a taxonomy error, got {other:?}"),
        }
        files[1] = ("subcategories.tsv", "id\tcategory_id\nX\n");
        assert!(matches!(Taxonomy::from_files(&files), Err(DomainError::TaxonomyFile { line: 2, .. })));
    }
}
