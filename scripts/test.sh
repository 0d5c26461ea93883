#!/usr/bin/env bash
# Run every test: the Python suite (engine, server, LLM path, browser tests in
# headless Chromium) and the Jest tests of the labextension.
# Needs scripts/setup.sh first. Installs Debian's Chromium when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "error: /usr/bin/chromium is missing; install Debian's chromium package (apt-get install chromium)" >&2
    exit 2
  fi
fi

.venv/bin/python -m pytest -q "$@"
if [ -f package.json ]; then
  PATH="$PWD/.venv/bin:$PATH" jlpm test
fi
