#!/usr/bin/env bash
# The test command: formatting, lints, every test, and docs without warnings.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/fetch-assets.sh   # models and data sets some tests use
bash scripts/setup-browser.sh  # Chromium and playwright-core for the inspector test
python3 scripts/test_convert_e5.py  # the multilingual-e5-small converter, on files written by the test
cargo fmt --all -- --check
# Every backend is built and tested: `--all-features` turns on LanceDB (`lancedb`), which the demo's
# build leaves out; the default feature set is linted too, as the demo builds it.
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
cargo test --workspace --all-features --locked
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --locked
