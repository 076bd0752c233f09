#!/usr/bin/env bash
# A fresh virtual environment with numpy, Optuna and this repository's Python package
# (`pip install .`), for the Python package's end-to-end test. Prints the interpreter's
# path on its last line. Usage: .ci/python-setup.sh [VENV_DIR] (default target/ci-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-target/ci-venv}
LOG=/tmp/python-setup.log
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c "import ensurepip" >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  (apt-get update && apt-get install -y python3-venv) >"$LOG" 2>&1 || { cat "$LOG" >&2; exit 1; }
fi
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check numpy optuna >"$LOG" 2>&1 || { cat "$LOG" >&2; exit 1; }
# Not editable: the test runs the package as a user gets it. Built from a copy, so the
# build's own folders (build/, *.egg-info) never land in the checkout.
SRC=$(mktemp -d)
cp -r pyproject.toml python "$SRC/"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "$SRC" >>"$LOG" 2>&1 || { cat "$LOG" >&2; exit 1; }
rm -rf "$SRC"
"$VENV/bin/python" -c "import numpy, optuna, outerloop, outerloop.optuna_sampler" || exit 1
echo "$(cd "$VENV" && pwd)/bin/python"
