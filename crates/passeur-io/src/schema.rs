//! The file schema of each entity, and the conversion of domain records to
//! and from rows of cells.

use crate::error::FieldError;
use chrono::NaiveDate;
use passeur_domain::{
    BookSectionId, GeoPoint, Interaction, InteractionKind, MovieGenreId, MusicGenreId, Offer, ShowTypeId,
    SubcategoryId, Timestamp, User, Venue, VenueTypeId,
};

/// The type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Text.
    Str,
    /// 64-bit integer.
    Int,
    /// 64-bit float.
    Float,
    /// true / false.
    Bool,
    /// Instant in whole seconds (RFC 3339 in text formats).
    Timestamp,
    /// Calendar date (`YYYY-MM-DD` in text formats).
    Date,
    /// List of 32-bit floats (space-separated in CSV).
    FloatList,
}

/// One column of an entity's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// Column name.
    pub name: &'static str,
    /// Column type.
    pub ty: FieldType,
    /// Whether a value must be present.
    pub required: bool,
}

const fn f(name: &'static str, ty: FieldType, required: bool) -> FieldSpec {
    FieldSpec { name, ty, required }
}

use FieldType::{Bool, Date, Float, FloatList, Int, Str, Timestamp as Ts};

const VENUE_FIELDS: &[FieldSpec] = &[
    f("id", Str, true),
    f("name", Str, true),
    f("venue_type", Str, true),
    f("latitude", Float, false),
    f("longitude", Float, false),
    f("city", Str, true),
    f("department", Str, true),
    f("partner_id", Str, true),
];

const OFFER_FIELDS: &[FieldSpec] = &[
    f("id", Str, true),
    f("item_id", Str, true),
    f("title", Str, true),
    f("description", Str, false),
    f("artist", Str, false),
    f("subcategory", Str, true),
    f("book_macro_section", Str, false),
    f("music_genre", Str, false),
    f("show_type", Str, false),
    f("movie_genre", Str, false),
    f("price_cents", Int, true),
    f("duo", Bool, false),
    f("stock", Int, false),
    f("bookable_from", Ts, false),
    f("bookable_until", Ts, false),
    f("event_start", Ts, false),
    f("created_at", Ts, true),
    f("venue_id", Str, false),
    f("image_embedding", FloatList, false),
];

const USER_FIELDS: &[FieldSpec] = &[
    f("id", Str, true),
    f("birth_date", Date, true),
    f("department", Str, true),
    f("home_latitude", Float, false),
    f("home_longitude", Float, false),
    f("credit_cents", Int, true),
];

const INTERACTION_FIELDS: &[FieldSpec] = &[
    f("id", Str, true),
    f("kind", Str, true),
    f("user_id", Str, true),
    f("offer_id", Str, true),
    f("at", Ts, true),
    f("amount_cents", Int, false),
    f("quantity", Int, false),
    f("booking_id", Str, false),
    f("call_id", Str, false),
    f("position", Int, false),
    f("model_version", Str, false),
    f("propensity", Float, false),
    f("prefix_propensity", Float, false),
];

/// The four kinds of records that files carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntityKind {
    /// venues.*
    Venues,
    /// offers.*
    Offers,
    /// users.*
    Users,
    /// interactions.*
    Interactions,
}

impl EntityKind {
    /// In dependency order: what an import applies first.
    pub const ALL: [EntityKind; 4] =
        [EntityKind::Venues, EntityKind::Offers, EntityKind::Users, EntityKind::Interactions];

    /// The file stem (`venues`, `offers`, ...).
    pub fn stem(self) -> &'static str {
        match self {
            EntityKind::Venues => "venues",
            EntityKind::Offers => "offers",
            EntityKind::Users => "users",
            EntityKind::Interactions => "interactions",
        }
    }

    /// Recognises a file stem.
    pub fn from_stem(stem: &str) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|k| k.stem() == stem)
    }

    /// The columns of this entity's files.
    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            EntityKind::Venues => VENUE_FIELDS,
            EntityKind::Offers => OFFER_FIELDS,
            EntityKind::Users => USER_FIELDS,
            EntityKind::Interactions => INTERACTION_FIELDS,
        }
    }
}

/// One value of a row, as read from or written to a file.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Absent.
    Null,
    /// Text (every CSV value arrives as text).
    Str(String),
    /// Integer; also timestamps (seconds) and dates (days since 1970-01-01).
    Int(i64),
    /// Float.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// List of floats.
    FloatList(Vec<f32>),
}

const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");

/// Days since 1970-01-01.
pub(crate) fn date_to_days(date: NaiveDate) -> i64 {
    (date - EPOCH).num_days()
}

pub(crate) fn days_to_date(days: i64) -> Option<NaiveDate> {
    EPOCH.checked_add_signed(chrono::Duration::try_days(days)?)
}

/// Typed access to a row's cells, with errors that name the field.
pub(crate) struct RowReader<'a> {
    fields: &'static [FieldSpec],
    cells: &'a [Cell],
}

impl<'a> RowReader<'a> {
    fn index(&self, name: &'static str) -> usize {
        self.fields.iter().position(|f| f.name == name).expect("schema field")
    }

    fn cell(&self, name: &'static str) -> Result<Option<&'a Cell>, FieldError> {
        let i = self.index(name);
        match &self.cells[i] {
            Cell::Null => {
                if self.fields[i].required {
                    Err(FieldError::new(name, "is required"))
                } else {
                    Ok(None)
                }
            }
            cell => Ok(Some(cell)),
        }
    }

    fn opt_str(&self, name: &'static str) -> Result<Option<String>, FieldError> {
        Ok(match self.cell(name)? {
            None => None,
            Some(Cell::Str(s)) => Some(s.clone()),
            Some(Cell::Int(i)) => Some(i.to_string()),
            Some(other) => return Err(FieldError::new(name, format!("expected text, got {other:?}"))),
        })
    }

    fn str(&self, name: &'static str) -> Result<String, FieldError> {
        self.opt_str(name).map(Option::unwrap_or_default)
    }

    fn opt_int(&self, name: &'static str) -> Result<Option<i64>, FieldError> {
        Ok(match self.cell(name)? {
            None => None,
            Some(Cell::Int(i)) => Some(*i),
            Some(Cell::Str(s)) => {
                Some(s.trim().parse().map_err(|_| FieldError::new(name, format!("{s:?} is not an integer")))?)
            }
            Some(Cell::Float(x)) if x.fract() == 0.0 && x.abs() < 9.0e15 => Some(*x as i64),
            Some(other) => return Err(FieldError::new(name, format!("expected an integer, got {other:?}"))),
        })
    }

    fn int(&self, name: &'static str) -> Result<i64, FieldError> {
        self.opt_int(name)?.ok_or_else(|| FieldError::new(name, "is required"))
    }

    fn opt_u32(&self, name: &'static str) -> Result<Option<u32>, FieldError> {
        self.opt_int(name)?
            .map(|i| u32::try_from(i).map_err(|_| FieldError::new(name, format!("{i} is not in 0..={}", u32::MAX))))
            .transpose()
    }

    fn opt_float(&self, name: &'static str) -> Result<Option<f64>, FieldError> {
        Ok(match self.cell(name)? {
            None => None,
            Some(Cell::Float(x)) => Some(*x),
            Some(Cell::Int(i)) => Some(*i as f64),
            Some(Cell::Str(s)) => {
                Some(s.trim().parse().map_err(|_| FieldError::new(name, format!("{s:?} is not a number")))?)
            }
            Some(other) => return Err(FieldError::new(name, format!("expected a number, got {other:?}"))),
        })
    }

    fn bool(&self, name: &'static str) -> Result<bool, FieldError> {
        Ok(match self.cell(name)? {
            None => false,
            Some(Cell::Bool(b)) => *b,
            Some(Cell::Str(s)) => match s.trim() {
                "true" | "1" => true,
                "false" | "0" => false,
                other => return Err(FieldError::new(name, format!("{other:?} is not true or false"))),
            },
            Some(other) => return Err(FieldError::new(name, format!("expected true or false, got {other:?}"))),
        })
    }

    fn opt_timestamp(&self, name: &'static str) -> Result<Option<Timestamp>, FieldError> {
        Ok(match self.cell(name)? {
            None => None,
            Some(Cell::Int(i)) => Some(Timestamp::checked(*i).map_err(|e| FieldError::new(name, e))?),
            Some(Cell::Str(s)) => Some(Timestamp::parse(s).map_err(|e| FieldError::new(name, e))?),
            Some(other) => return Err(FieldError::new(name, format!("expected a timestamp, got {other:?}"))),
        })
    }

    fn timestamp(&self, name: &'static str) -> Result<Timestamp, FieldError> {
        self.opt_timestamp(name)?.ok_or_else(|| FieldError::new(name, "is required"))
    }

    fn date(&self, name: &'static str) -> Result<NaiveDate, FieldError> {
        match self.cell(name)? {
            None => Err(FieldError::new(name, "is required")),
            Some(Cell::Int(days)) => {
                days_to_date(*days).ok_or_else(|| FieldError::new(name, format!("{days} days is out of range")))
            }
            Some(Cell::Str(s)) => passeur_domain::parse_date(s).map_err(|e| FieldError::new(name, e)),
            Some(other) => Err(FieldError::new(name, format!("expected a date, got {other:?}"))),
        }
    }

    fn opt_floats(&self, name: &'static str) -> Result<Option<Vec<f32>>, FieldError> {
        Ok(match self.cell(name)? {
            None => None,
            Some(Cell::FloatList(v)) => Some(v.clone()),
            Some(Cell::Str(s)) => Some(
                s.split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '[' || c == ']')
                    .filter(|t| !t.is_empty())
                    .enumerate()
                    .map(|(i, t)| {
                        t.parse::<f32>()
                            .map_err(|_| FieldError::new(name, format!("component {i}, {t:?}, is not a number")))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Some(other) => return Err(FieldError::new(name, format!("expected a list of numbers, got {other:?}"))),
        })
    }

    fn opt_point(&self, lat: &'static str, lon: &'static str) -> Result<Option<GeoPoint>, FieldError> {
        match (self.opt_float(lat)?, self.opt_float(lon)?) {
            (Some(a), Some(o)) => GeoPoint::new(a, o).map(Some).map_err(|e| FieldError::new(lat, e)),
            (None, None) => Ok(None),
            (None, Some(_)) => Err(FieldError::new(lat, format!("is missing while {lon} is set"))),
            (Some(_), None) => Err(FieldError::new(lon, format!("is missing while {lat} is set"))),
        }
    }

    fn opt_code<T>(
        &self,
        name: &'static str,
        parse: impl Fn(&str) -> passeur_domain::Result<T>,
    ) -> Result<Option<T>, FieldError> {
        self.opt_str(name)?.map(|s| parse(&s).map_err(|e| FieldError::new(name, e.to_string()))).transpose()
    }

    fn code<T>(&self, name: &'static str, parse: impl Fn(&str) -> passeur_domain::Result<T>) -> Result<T, FieldError> {
        self.opt_code(name, parse)?.ok_or_else(|| FieldError::new(name, "is required"))
    }
}

/// A domain record that files carry.
pub trait Record: Sized {
    /// Which entity this is.
    const KIND: EntityKind;
    /// Its id.
    fn id(&self) -> &str;
    /// Its cells, aligned with [`EntityKind::fields`].
    fn to_cells(&self) -> Vec<Cell>;
    /// Reads it back from cells aligned with [`EntityKind::fields`].
    fn from_cells(cells: &[Cell]) -> Result<Self, FieldError>;
}

fn s(value: &str) -> Cell {
    Cell::Str(value.to_owned())
}
fn os<T: AsRef<str>>(value: Option<T>) -> Cell {
    value.map_or(Cell::Null, |v| Cell::Str(v.as_ref().to_owned()))
}
fn oi(value: Option<i64>) -> Cell {
    value.map_or(Cell::Null, Cell::Int)
}
fn of(value: Option<f64>) -> Cell {
    value.map_or(Cell::Null, Cell::Float)
}

impl Record for Venue {
    const KIND: EntityKind = EntityKind::Venues;
    fn id(&self) -> &str {
        &self.id
    }
    fn to_cells(&self) -> Vec<Cell> {
        vec![
            s(&self.id),
            s(&self.name),
            s(self.venue_type.canonical()),
            of(self.location.map(|p| p.lat)),
            of(self.location.map(|p| p.lon)),
            s(&self.city),
            s(&self.department),
            s(&self.partner_id),
        ]
    }
    fn from_cells(cells: &[Cell]) -> Result<Self, FieldError> {
        let r = RowReader { fields: VENUE_FIELDS, cells };
        Ok(Venue {
            id: r.str("id")?,
            name: r.str("name")?,
            venue_type: r.code("venue_type", VenueTypeId::parse)?,
            location: r.opt_point("latitude", "longitude")?,
            city: r.str("city")?,
            department: r.str("department")?,
            partner_id: r.str("partner_id")?,
        })
    }
}

impl Record for Offer {
    const KIND: EntityKind = EntityKind::Offers;
    fn id(&self) -> &str {
        &self.id
    }
    fn to_cells(&self) -> Vec<Cell> {
        vec![
            s(&self.id),
            s(&self.item_id),
            s(&self.title),
            s(&self.description),
            os(self.artist.as_deref()),
            s(self.subcategory.canonical()),
            os(self.book_macro_section.map(|x| x.canonical())),
            os(self.music_genre.map(|x| x.canonical())),
            os(self.show_type.map(|x| x.canonical())),
            os(self.movie_genre.map(|x| x.canonical())),
            Cell::Int(self.price_cents),
            Cell::Bool(self.duo),
            oi(self.stock.map(i64::from)),
            oi(self.bookable_from.map(Timestamp::seconds)),
            oi(self.bookable_until.map(Timestamp::seconds)),
            oi(self.event_start.map(Timestamp::seconds)),
            Cell::Int(self.created_at.seconds()),
            os(self.venue_id.as_deref()),
            self.image_embedding.clone().map_or(Cell::Null, Cell::FloatList),
        ]
    }
    fn from_cells(cells: &[Cell]) -> Result<Self, FieldError> {
        let r = RowReader { fields: OFFER_FIELDS, cells };
        Ok(Offer {
            id: r.str("id")?,
            item_id: r.str("item_id")?,
            title: r.str("title")?,
            description: r.str("description")?,
            artist: r.opt_str("artist")?,
            subcategory: r.code("subcategory", SubcategoryId::parse)?,
            book_macro_section: r.opt_code("book_macro_section", BookSectionId::parse)?,
            music_genre: r.opt_code("music_genre", MusicGenreId::parse)?,
            show_type: r.opt_code("show_type", ShowTypeId::parse)?,
            movie_genre: r.opt_code("movie_genre", MovieGenreId::parse)?,
            price_cents: r.int("price_cents")?,
            duo: r.bool("duo")?,
            stock: r.opt_u32("stock")?,
            bookable_from: r.opt_timestamp("bookable_from")?,
            bookable_until: r.opt_timestamp("bookable_until")?,
            event_start: r.opt_timestamp("event_start")?,
            created_at: r.timestamp("created_at")?,
            venue_id: r.opt_str("venue_id")?,
            image_embedding: r.opt_floats("image_embedding")?,
        })
    }
}

impl Record for User {
    const KIND: EntityKind = EntityKind::Users;
    fn id(&self) -> &str {
        &self.id
    }
    fn to_cells(&self) -> Vec<Cell> {
        vec![
            s(&self.id),
            Cell::Int(date_to_days(self.birth_date)),
            s(&self.department),
            of(self.home.map(|p| p.lat)),
            of(self.home.map(|p| p.lon)),
            Cell::Int(self.credit_cents),
        ]
    }
    fn from_cells(cells: &[Cell]) -> Result<Self, FieldError> {
        let r = RowReader { fields: USER_FIELDS, cells };
        Ok(User {
            id: r.str("id")?,
            birth_date: r.date("birth_date")?,
            department: r.str("department")?,
            home: r.opt_point("home_latitude", "home_longitude")?,
            credit_cents: r.int("credit_cents")?,
        })
    }
}

impl Record for Interaction {
    const KIND: EntityKind = EntityKind::Interactions;
    fn id(&self) -> &str {
        &self.id
    }
    fn to_cells(&self) -> Vec<Cell> {
        let mut cells =
            vec![s(&self.id), s(self.kind.code()), s(&self.user_id), s(&self.offer_id), Cell::Int(self.at.seconds())];
        cells.resize(INTERACTION_FIELDS.len(), Cell::Null);
        match &self.kind {
            InteractionKind::Consultation | InteractionKind::Favourite => {}
            InteractionKind::Booking { amount_cents, quantity } => {
                cells[5] = Cell::Int(*amount_cents);
                cells[6] = Cell::Int(i64::from(*quantity));
            }
            InteractionKind::Cancellation { booking_id } => cells[7] = s(booking_id),
            InteractionKind::Impression { call_id, position, model_version, propensity, prefix_propensity } => {
                cells[8] = s(call_id);
                cells[9] = Cell::Int(i64::from(*position));
                cells[10] = s(model_version);
                cells[11] = Cell::Float(*propensity);
                if let Some(p) = prefix_propensity {
                    cells[12] = Cell::Float(*p);
                }
            }
        }
        cells
    }
    fn from_cells(cells: &[Cell]) -> Result<Self, FieldError> {
        let r = RowReader { fields: INTERACTION_FIELDS, cells };
        let kind = r.str("kind")?;
        let need = |name: &'static str, v: Option<String>| {
            v.ok_or_else(|| FieldError::new(name, format!("is required for a {kind}")))
        };
        let kind = match kind.as_str() {
            "consultation" => InteractionKind::Consultation,
            "favourite" => InteractionKind::Favourite,
            "booking" => InteractionKind::Booking {
                amount_cents: r
                    .opt_int("amount_cents")?
                    .ok_or_else(|| FieldError::new("amount_cents", "is required for a booking"))?,
                quantity: r.opt_u32("quantity")?.unwrap_or(1),
            },
            "cancellation" => {
                InteractionKind::Cancellation { booking_id: need("booking_id", r.opt_str("booking_id")?)? }
            }
            "impression" => InteractionKind::Impression {
                call_id: need("call_id", r.opt_str("call_id")?)?,
                position: r
                    .opt_u32("position")?
                    .ok_or_else(|| FieldError::new("position", "is required for an impression"))?,
                model_version: need("model_version", r.opt_str("model_version")?)?,
                propensity: r
                    .opt_float("propensity")?
                    .ok_or_else(|| FieldError::new("propensity", "is required for an impression"))?,
                prefix_propensity: r.opt_float("prefix_propensity")?,
            },
            other => {
                return Err(FieldError::new(
                    "kind",
                    format!("{other:?} is not one of {}", InteractionKind::CODES.join(", ")),
                ));
            }
        };
        Ok(Interaction {
            id: r.str("id")?,
            user_id: r.str("user_id")?,
            offer_id: r.str("offer_id")?,
            at: r.timestamp("at")?,
            kind,
        })
    }
}
