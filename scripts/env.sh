# Shared by the scripts: a cargo target cache outside the clone, and the
# system packages the build needs (installed once, when missing).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/passeur-target}"
mkdir -p "$CARGO_TARGET_DIR"
if ! command -v cc >/dev/null 2>&1; then
  apt-get update && apt-get install -y build-essential
fi
