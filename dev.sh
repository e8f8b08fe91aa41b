#!/usr/bin/env bash
# memstore's one entry point for people and CI.
#   ./dev.sh demo        set up .venv and run the tour (the main job)
#   ./dev.sh test        set up and run everything CI checks: ruff, mypy, the codegen check, pytest, docs
#   ./dev.sh notebooks   open the notebooks in JupyterLab
#   ./dev.sh bench       run the benchmarks
#   ./dev.sh docs        build the documentation into docs/_build/html
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
VENV=.venv
VPY=$VENV/bin/python

setup() {  # setup EXTRAS: create the venv and install memstore with those extras (cached by a stamp)
  local extras=$1
  if [ ! -x "$VPY" ]; then
    echo "== creating $VENV"
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.setup-stamp-${extras//,/-}"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "== installing memstore[$extras] into $VENV"
    "$VPY" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$VPY" -m pip install --quiet --disable-pip-version-check -e ".[$extras]"
    touch "$stamp"
  fi
}

need_chromium() {  # the browser tests drive Debian's Chromium through Playwright
  if [ -x /usr/bin/chromium ]; then return 0; fi
  echo "== installing Debian's chromium (for the browser tests)"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
}

cmd=${1:-help}
shift || true
case "$cmd" in
  demo)
    setup tour
    "$VPY" tools/tour.py "$@"
    ;;
  test)
    setup test,docs,bench
    need_chromium
    echo "== ruff";    "$VPY" -m ruff check .
    echo "== ruff format"; "$VPY" -m ruff format --check memstore tests benchmarks tools docs
    echo "== codegen"; "$VPY" -m memstore._codegen --check
    echo "== mypy";    "$VPY" -m mypy
    echo "== docs";    "$VPY" -m sphinx -W --keep-going -q -b html docs docs/_build/html
    echo "== pytest";  "$VPY" -m pytest "$@"
    ;;
  notebooks)
    setup tour
    root=()
    [ "$(id -u)" -ne 0 ] || root=(--allow-root)  # JupyterLab refuses root without it
    exec "$VPY" -m jupyterlab --ServerApp.root_dir=notebooks "${root[@]}" "$@"
    ;;
  bench)
    setup bench
    "$VPY" -m benchmarks "$@"
    ;;
  docs)
    setup docs
    "$VPY" -m sphinx -W --keep-going -b html docs docs/_build/html
    echo "docs: docs/_build/html/index.html"
    ;;
  *)
    sed -n '2,8p' "$0"
    ;;
esac
