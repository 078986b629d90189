# Sourced by scripts/dev and scripts/test: make sure the venv exists and holds this project.
# VENV picks the folder (default .venv); a fresh machine needs nothing but python3.
# Dependencies come from requirements.lock (exact versions, checked by hash), the project itself
# on top without resolving anything; the venv is refreshed when pyproject.toml or the lock changes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
say() { echo "setup: $*" >&2; }
if [ ! -x "$VENV/bin/python" ]; then
  say "creating the virtualenv $VENV"
  python3 -m venv "$VENV"
fi
stamp="$VENV/.followthrough-installed"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ] || [ "$ROOT/requirements.lock" -nt "$stamp" ]; then
  started=$SECONDS
  say "upgrading pip"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  say "installing $(grep -c '^[A-Za-z0-9]' "$ROOT/requirements.lock") locked packages from requirements.lock (a first run takes a few minutes)"
  "$VENV/bin/python" -m pip install --quiet --require-hashes -r "$ROOT/requirements.lock"
  say "installing followthrough itself (editable)"
  "$VENV/bin/python" -m pip install --quiet --no-deps -e "$ROOT"
  say "checking the dependencies fit together"
  if ! "$VENV/bin/python" -m pip check >/dev/null 2>&1; then
    "$VENV/bin/python" -m pip check >&2 || true
    echo "requirements.lock does not hold what pyproject.toml asks for: run ./scripts/lock" >&2
    exit 1
  fi
  touch "$stamp"
  say "ready in $((SECONDS - started)) s: $("$VENV/bin/python" -m pip list --format=freeze 2>/dev/null | wc -l) packages in $VENV"
fi
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
