#!/usr/bin/env bash
# Two-tower retrieval on the medium world with each text model's vectors, and without text: the held-out
# booking metrics of the full model and of its content-only (cold-start) path.
#
#   [PASSEUR_SCALE=small] bash scripts/compare-text-models.sh [DIR]    # DIR defaults to data/compare-text-models
#
# Needs the release binary (scripts/demo.sh builds it) and both models (scripts/fetch-assets.sh). Takes
# about 40 minutes on 2 cores, most of it embedding 23 600 distinct offer texts twice.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
passeur="$CARGO_TARGET_DIR/release/passeur"
dir="${1:-data/compare-text-models}"
scale="${PASSEUR_SCALE:-medium}"
mkdir -p "$dir"
if [ ! -e "$dir/store.done" ]; then
  "$passeur" generate --scale "$scale" --seed 42 --out "$dir/world" --format parquet
  "$passeur" --data-dir "$dir/data" import "$dir/world"/{venues,offers,users,interactions}.parquet
  touch "$dir/store.done"
fi
train() { # text model (or none)
  echo "== two-tower with text: $1"
  "$passeur" --data-dir "$dir/data" train retrieval --text-model "$1" --model-dir "$dir/retrieval-$1" --eval \
    | tee "$dir/retrieval-$1.txt"
}
"$passeur" --data-dir "$dir/data" embed --model-dir models/multilingual-e5-small
train multilingual-e5-small
train none
"$passeur" --data-dir "$dir/data" embed --model-dir models/all-MiniLM-L6-v2
train all-MiniLM-L6-v2
