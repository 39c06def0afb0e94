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
# The ranking heads' LightGBM is built from source by `lightgbm3-sys`: bindgen needs libclang, and
# LightGBM's CMakeLists needs CMake ≥ 3.28, newer than Debian 12's 3.25: PyPI's `cmake` wheel is
# installed in a virtual environment under ~/.cache and handed to the build through $CMAKE.
if ! ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 && ! ls /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
  $SUDO apt-get update && $SUDO apt-get install -y libclang-dev
fi
PASSEUR_CMAKE_VENV="$HOME/.cache/passeur-tools/cmake-3.31.6"
if [ ! -x "$PASSEUR_CMAKE_VENV/bin/cmake" ]; then
  python3 -m venv "$PASSEUR_CMAKE_VENV"
  "$PASSEUR_CMAKE_VENV/bin/pip" install --quiet "cmake==3.31.6"
fi
export CMAKE="$PASSEUR_CMAKE_VENV/bin/cmake"
