# Shared by the scripts: a cargo target cache outside the clone, and the
# system packages the build needs (installed once, when missing).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/passeur-target}"
mkdir -p "$CARGO_TARGET_DIR"
missing=()
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
# lancedb (the vector index) compiles protobuf definitions.
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler libprotobuf-dev)
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
  $SUDO apt-get update && $SUDO apt-get install -y "${missing[@]}"
fi
