//! MovieLens in RecBole's atomic-file layout (`ml-100k.inter`, `.item`,
//! `.user`, tab-separated with typed headers), converted to passeur's
//! records so that it enters through the same import path as any data.
//!
//! Movies become video-on-demand offers (online, no venue) with their first
//! genre mapped to the taxonomy's movie genres; users get a birth date from
//! their age and a "department" from their zip code's first two characters;
//! every rating becomes a consultation at its timestamp (RecBole's protocol
//! on this data treats every rating as a positive).

use crate::error::{IoError, Result, RowError};
use crate::transfer::RecordWriter;
use passeur_domain::{Interaction, InteractionKind, MovieGenreId, Offer, SubcategoryId, Timestamp, User};
use std::path::Path;

/// What a conversion wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MovieLensReport {
    /// Offers (movies).
    pub offers: u64,
    /// Users.
    pub users: u64,
    /// Interactions (ratings).
    pub interactions: u64,
}

fn genre(name: &str) -> Option<&'static str> {
    Some(match name {
        "Action" => "ACTION",
        "Adventure" => "ADVENTURE",
        "Animation" => "ANIMATION",
        "Children's" => "FAMILY",
        "Comedy" => "COMEDY",
        "Crime" | "Film-Noir" => "DETECTIVE",
        "Documentary" => "DOCUMENTARY",
        "Drama" => "DRAMA",
        "Fantasy" => "FANTASY",
        "Horror" => "HORROR",
        "Musical" => "MUSICAL",
        "Mystery" | "Thriller" => "THRILLER",
        "Romance" => "ROMANCE",
        "Sci-Fi" => "SCIENCE_FICTION",
        "War" => "WARMOVIE",
        "Western" => "WESTERN",
        _ => return None,
    })
}

/// Reads a tab-separated atomic file: header, then rows of exactly `columns` fields.
/// Visits one row's fields (with its line number); an `Err` is the reason the row is bad.
type RowVisitor<'a> = dyn FnMut(u64, &[&str]) -> Result<(), String> + 'a;

fn read_atomic(path: &Path, columns: usize, visit: &mut RowVisitor<'_>) -> Result<()> {
    let text =
        std::fs::read_to_string(path).map_err(|e| IoError::File { path: path.display().to_string(), source: e })?;
    let mut errors = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let line_no = n as u64 + 1;
        let outcome = if fields.len() != columns {
            Err(format!("{} fields, expected {columns}", fields.len()))
        } else {
            visit(line_no, &fields)
        };
        if let Err(reason) = outcome {
            errors.push(RowError { file: path.display().to_string(), line: line_no, field: None, reason });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        let total = errors.len();
        Err(IoError::Rejected { errors, total })
    }
}

/// Converts RecBole's `ml-100k` folder into `offers`, `users` and
/// `interactions` files (format from `extension`: csv, jsonl or parquet) in `out`.
pub fn convert_movielens(dir: &Path, name: &str, out: &Path, extension: &str) -> Result<MovieLensReport> {
    std::fs::create_dir_all(out).map_err(|e| IoError::File { path: out.display().to_string(), source: e })?;
    let vod = SubcategoryId::parse("VOD").expect("VOD is in the taxonomy");
    let released = Timestamp::parse("1998-01-01T00:00:00Z").expect("valid instant");
    let mut report = MovieLensReport::default();
    let mut offers = RecordWriter::<Offer>::create(&out.join(format!("offers.{extension}")))?;
    read_atomic(&dir.join(format!("{name}.item")), 4, &mut |_, f| {
        let id: u32 = f[0].parse().map_err(|_| format!("item_id {:?} is not a number", f[0]))?;
        let genres: Vec<&str> = f[3].split(' ').filter(|g| !g.is_empty()).collect();
        let movie_genre = genres
            .iter()
            .find_map(|g| genre(g))
            .map(|g| MovieGenreId::parse(g).expect("mapped genres are in the taxonomy"));
        let title = if f[1].trim().is_empty() { format!("Movie {id}") } else { f[1].trim().to_owned() };
        let offer = Offer {
            id: format!("ml-movie-{id}"),
            item_id: format!("ml-{id}"),
            title,
            description: format!("{}. {}", f[2].trim(), genres.join(", ")),
            artist: None,
            subcategory: vod,
            book_macro_section: None,
            music_genre: None,
            show_type: None,
            movie_genre,
            price_cents: 0,
            duo: false,
            stock: None,
            bookable_from: None,
            bookable_until: None,
            event_start: None,
            created_at: released,
            venue_id: None,
            image_embedding: None,
        };
        offers.write(&offer).map_err(|e| e.to_string())?;
        report.offers += 1;
        Ok(())
    })?;
    offers.finish()?;
    let mut users = RecordWriter::<User>::create(&out.join(format!("users.{extension}")))?;
    let reference = chrono::NaiveDate::from_ymd_opt(1998, 4, 1).expect("valid date");
    read_atomic(&dir.join(format!("{name}.user")), 5, &mut |_, f| {
        let age: u32 = f[1].parse().map_err(|_| format!("age {:?} is not a number", f[1]))?;
        let birth_date = reference
            .checked_sub_months(chrono::Months::new(age * 12))
            .ok_or_else(|| format!("age {age} is out of range"))?;
        let zip: String = f[4].chars().take(2).collect();
        let user = User {
            id: format!("ml-user-{}", f[0]),
            birth_date,
            department: format!("zip-{zip}"),
            home: None,
            credit_cents: 0,
        };
        users.write(&user).map_err(|e| e.to_string())?;
        report.users += 1;
        Ok(())
    })?;
    users.finish()?;
    let mut interactions = RecordWriter::<Interaction>::create(&out.join(format!("interactions.{extension}")))?;
    read_atomic(&dir.join(format!("{name}.inter")), 4, &mut |line, f| {
        let at: f64 = f[3].parse().map_err(|_| format!("timestamp {:?} is not a number", f[3]))?;
        let interaction = Interaction {
            id: format!("ml-rating-{line}"),
            user_id: format!("ml-user-{}", f[0]),
            offer_id: format!("ml-movie-{}", f[1]),
            at: Timestamp(at as i64),
            kind: InteractionKind::Consultation,
        };
        interactions.write(&interaction).map_err(|e| e.to_string())?;
        report.interactions += 1;
        Ok(())
    })?;
    interactions.finish()?;
    Ok(report)
}
