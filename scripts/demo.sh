#!/usr/bin/env bash
# The main job: builds passeur and runs the demo on the embedded default
# (the medium synthetic world, generated into ./data on first run).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/fetch-assets.sh
cargo build --release --locked -p passeur-cli
exec "$CARGO_TARGET_DIR/release/passeur" --data-dir "${PASSEUR_DATA_DIR:-data}" demo "$@"
