#!/usr/bin/env bash
# DuckDB for `passeur bench diversity --against-duckdb`: its Python package in a
# virtual environment under ~/.cache/passeur-tools (made once). Prints the interpreter.
set -euo pipefail
venv="$HOME/.cache/passeur-tools/duckdb-2.0.0"
if ! "$venv/bin/python" -c "import duckdb" >/dev/null 2>&1; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "duckdb==2.0.0"
fi
echo "$venv/bin/python"
