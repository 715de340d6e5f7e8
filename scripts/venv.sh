# Sourced by the other scripts: create or refresh .venv with pcdsl installed (editable).
# Re-installs only when pyproject.toml changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PCDSL_VENV:-$ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating virtual environment in $VENV" >&2
  "$PYTHON_BIN" -m venv "$VENV"
fi
STAMP="$VENV/.pcdsl-installed"
WANT="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1) ${PCDSL_EXTRAS:-dev}"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "installing pcdsl and its dependencies into $VENV (first run: a few minutes)" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 \
    | grep -v "^WARNING: Location" >&2 || true
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -e "$ROOT[${PCDSL_EXTRAS:-dev}]" 2>&1 | grep -v "^WARNING: Location" >&2 || true
  "$VENV/bin/python" -c "import pcdsl, torch, lark, jinja2" \
    || { echo "installation failed" >&2; exit 1; }
  echo "$WANT" > "$STAMP"
fi
# A wheel install compiles the package's bytecode; an editable one leaves it to the first
# import, which never writes it where PYTHONDONTWRITEBYTECODE is set (as on these machines):
# every pcc run would then recompile pcdsl's sources, about 0.1 s. Up to date, this is a
# check of timestamps.
"$VENV/bin/python" -m compileall -q "$ROOT/pcdsl" >/dev/null
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
