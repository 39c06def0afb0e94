//! Progress bars.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar with a known length.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>14} [{bar:40}] {human_pos}/{human_len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// A counter without a known length.
pub fn spinner(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{msg:>14} {spinner} {human_pos} rows {per_sec}").expect("valid template"),
    );
    bar.set_message(what.to_owned());
    bar
}
