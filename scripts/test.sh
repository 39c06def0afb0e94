#!/usr/bin/env bash
# The test command: formatting, lints, every test, and docs without warnings.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/fetch-assets.sh   # models and data sets some tests use
bash scripts/setup-browser.sh  # Chromium and playwright-core for the inspector test
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
