#!/usr/bin/env bash
# Times the newcomer's path: `bash scripts/demo.sh` from where this checkout stands (build, assets,
# world, models) until the demo answers its first recommendation, then stops the demo.
#
#   CARGO_TARGET_DIR=$(mktemp -d) PASSEUR_DATA_DIR=$(mktemp -d)/data bash scripts/time-first-recommendation.sh
#
# With an empty CARGO_TARGET_DIR and data directory it measures a first run; run it again for a later
# run. Prints the seconds to the first line of each step and to the first recommendation.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
start=$(date +%s.%N)
bash scripts/demo.sh --listen 127.0.0.1:0 >"$log" 2>&1 &
demo=$!
trap 'kill "$demo" 2>/dev/null || true; pkill -P "$demo" 2>/dev/null || true' EXIT
since() { awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }'; }
seen=""
while kill -0 "$demo" 2>/dev/null; do
  base=$(grep -o 'passeur is serving on http://[0-9.:]*' "$log" | head -n 1 | sed 's/.*http:/http:/' || true)
  key=$(grep -o 'demo keys (shown once; stored hashed): app [^ ]*' "$log" | head -n 1 | awk '{print $NF}' || true)
  user=$(grep -o "/v1/users/[^/]*/recommendations" "$log" | head -n 1 | cut -d/ -f4 || true)
  for step in "Compiling" "Finished" "first run" "== training retrieval" "== training ranking" "set up in" \
    "passeur is serving"; do
    if grep -q -- "$step" "$log" && [[ "$seen" != *"|$step|"* ]]; then
      seen="$seen|$step|"
      echo "$(since) s  $step"
    fi
  done
  if [ -n "$base" ] && [ -n "$key" ] && [ -n "$user" ]; then
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" \
      "$base/v1/users/$user/recommendations?limit=5" || true)
    if [ "$code" = 200 ]; then
      echo "$(since) s  first recommendation ($base, user $user)"
      exit 0
    fi
  fi
  sleep 0.2
done
echo "the demo stopped before answering:" >&2
tail -n 20 "$log" >&2
exit 1
