# Sourced by scripts/dev and scripts/test: make sure the venv exists and holds this project.
# VENV picks the folder (default .venv); a fresh machine needs nothing but python3.
# Dependencies come from requirements.lock (exact versions, checked by hash), the project itself
# on top without resolving anything; the venv is refreshed when pyproject.toml or the lock changes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
stamp="$VENV/.followthrough-installed"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ] || [ "$ROOT/requirements.lock" -nt "$stamp" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --require-hashes -r "$ROOT/requirements.lock"
  "$VENV/bin/python" -m pip install --quiet --no-deps -e "$ROOT"
  if ! "$VENV/bin/python" -m pip check >/dev/null 2>&1; then
    "$VENV/bin/python" -m pip check >&2 || true
    echo "requirements.lock does not hold what pyproject.toml asks for: run ./scripts/lock" >&2
    exit 1
  fi
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
