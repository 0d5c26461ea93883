#!/usr/bin/env bash
# Set up a development environment from nothing: a virtual environment in .venv
# with CardCheck Lab installed editable (this also builds the JupyterLab
# extension) and the test dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
