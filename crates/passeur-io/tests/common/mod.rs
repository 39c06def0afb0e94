//! Helpers shared by the io crate's tests.

use passeur_domain::{Interaction, Offer, User, Venue};
use passeur_io::{FileFormat, Record, RecordWriter};
use std::path::Path;

fn write_all<R: Record>(path: &Path, records: &[R]) {
    let mut w = RecordWriter::<R>::create(path).unwrap();
    records.iter().for_each(|r| w.write(r).unwrap());
    w.finish().unwrap();
}

/// Writes `venues.<ext>`, `offers.<ext>`, `users.<ext>` and `interactions.<ext>` in `dir`.
pub fn write_files(
    dir: &Path,
    format: FileFormat,
    venues: &[Venue],
    offers: &[Offer],
    users: &[User],
    interactions: &[Interaction],
) {
    let ext = format.extension();
    write_all(&dir.join(format!("venues.{ext}")), venues);
    write_all(&dir.join(format!("offers.{ext}")), offers);
    write_all(&dir.join(format!("users.{ext}")), users);
    write_all(&dir.join(format!("interactions.{ext}")), interactions);
}
