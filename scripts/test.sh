#!/usr/bin/env bash
# The test command: formatting, lints, every test, and docs without warnings.
# Each step prints its duration (`== N s: step`), so a CI log says where the time went.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
step() { local started=$SECONDS; "$@"; echo "== $((SECONDS - started)) s: $*"; }
step bash scripts/fetch-assets.sh   # models and data sets some tests use
step bash scripts/setup-browser.sh  # Chromium and playwright-core for the inspector test
step python3 scripts/test_convert_e5.py  # the multilingual-e5-small converter, on files written by the test
# A PostgreSQL server on loopback for the PostgreSQL backend's tests, stopped when the tests end.
PASSEUR_TEST_POSTGRES=$(bash scripts/postgres.sh start)
export PASSEUR_TEST_POSTGRES
trap 'bash scripts/postgres.sh stop' EXIT
step cargo fmt --all -- --check
# Every backend is built and tested: `--all-features` turns on LanceDB (`lancedb`), which the demo's
# build leaves out; the default feature set is linted too, as the demo builds it.
step cargo clippy --workspace --all-targets --locked -- -D warnings
step cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
step cargo test --workspace --all-features --locked
RUSTDOCFLAGS="-D warnings" step cargo doc --workspace --no-deps --all-features --locked
