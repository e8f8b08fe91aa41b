#!/usr/bin/env bash
# memstore's one entry point for people and CI.
#   ./dev.sh demo        set up .venv and run the tour (the main job)
#   ./dev.sh test        set up and run everything CI checks: `check`, the docs, then all of pytest with coverage
#   ./dev.sh check       the fast loop (seconds): ruff, ruff format --check, mypy, the generator check
#   ./dev.sh fix         ruff check --fix, ruff format, then regenerate the sync files
#   ./dev.sh gen         regenerate memstore/*/_sync.py from their _async.py sources
#   ./dev.sh test-fast   pytest without the browser and kernel tests (arguments go to pytest)
#   ./dev.sh notebooks   open the notebooks in JupyterLab
#   ./dev.sh bench       run the benchmarks
#   ./dev.sh docs        build the documentation into docs/_build/html
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
VENV=.venv
VPY=$VENV/bin/python
FORMATTED=(memstore tests benchmarks tools docs examples)  # what `ruff format` owns
export RUFF="$PWD/$VENV/bin/ruff"  # the generator formats with the venv's pinned ruff, whatever Python runs it

setup() {  # setup EXTRAS: create the venv and install memstore with those extras (cached by a stamp)
  local extras=$1
  if [ ! -x "$VPY" ]; then
    echo "== creating $VENV"
    "$PY" -m venv "$VENV"
  fi
  if ! stamp_covers "$extras"; then
    echo "== installing memstore[$extras] into $VENV"
    "$VPY" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$VPY" -m pip install --quiet --disable-pip-version-check -e ".[$extras]"
    touch "$VENV/.setup-stamp-${extras//,/-}"
  fi
}

stamp_covers() {  # stamp_covers EXTRAS: a stamp newer than pyproject.toml has every one of EXTRAS
  local stamp have extra
  for stamp in "$VENV"/.setup-stamp-*; do
    [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] || continue
    have="-${stamp##*/.setup-stamp-}-"
    for extra in ${1//,/ }; do
      [[ $have == *"-$extra-"* ]] || continue 2
    done
    return 0
  done
  return 1
}

need_chromium() {  # the browser tests drive Debian's Chromium through Playwright
  if [ -x /usr/bin/chromium ]; then return 0; fi
  echo "== installing Debian's chromium (for the browser tests)"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
}

need_redis() {  # the Redis backend's tests start Debian's redis-server (one per test session)
  if command -v redis-server >/dev/null; then return 0; fi
  echo "== installing Debian's redis-server (for the Redis backend's tests)"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
  # the package may start a system service on port 6379: the tests never use it
}

python_for() {  # python_for 3.X: print a python3.X that runs here, or fail
  local version=$1 exe release
  exe=$(command -v "python$version") || return 1
  if "$exe" -c '' 2>/dev/null; then echo "$exe"; return 0; fi
  # a pyenv shim of a version that is installed but not selected: ask pyenv for it
  command -v pyenv >/dev/null || return 1
  release=$(pyenv versions --bare 2>/dev/null | grep -E "^${version//./\\.}\.[0-9]+$" | sort -t. -k3,3n | tail -n 1)
  [ -n "$release" ] || return 1
  exe=$(PYENV_VERSION=$release pyenv which "python$version" 2>/dev/null) || return 1
  "$exe" -c '' 2>/dev/null && echo "$exe"
}

gen_pythons() {  # the lowest and the highest of python3.10 .. 3.13 found, else the venv's python
  local found=() version exe
  for version in 3.10 3.11 3.12 3.13; do
    if exe=$(python_for "$version"); then found+=("$exe"); fi
  done
  if [ ${#found[@]} -ge 2 ]; then
    printf '%s\n' "${found[0]}" "${found[${#found[@]}-1]}"
  else
    echo "$VPY"
  fi
}

check() {  # the fast loop: lint, format, types, and the generated files on the lowest and highest Python
  setup test
  echo "== ruff";        "$VPY" -m ruff check .
  echo "== ruff format"; "$VPY" -m ruff format --check "${FORMATTED[@]}"
  echo "== mypy";        "$VPY" -m mypy
  local exe
  while read -r exe; do
    echo "== generator check ($("$exe" -c 'import sys; print("Python %d.%d" % sys.version_info[:2])'))"
    "$exe" tools/async_to_sync.py --check
  done < <(gen_pythons)
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
    need_redis
    check
    echo "== docs";    "$VPY" -m sphinx -W --keep-going -q -b html docs docs/_build/html
    echo "== pytest";  "$VPY" -m pytest --cov --cov-report=term "$@"
    ;;
  check)
    check
    ;;
  fix)
    setup test
    echo "== ruff --fix";  "$VPY" -m ruff check --fix .
    echo "== ruff format"; "$VPY" -m ruff format "${FORMATTED[@]}"
    echo "== generate";    "$VPY" tools/async_to_sync.py
    ;;
  gen)
    setup test
    echo "== generate";    "$VPY" tools/async_to_sync.py
    ;;
  test-fast)
    setup test
    "$VPY" -m pytest -m "not browser and not kernel" "$@"
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
    need_redis  # notebook 07 starts a private redis-server
    "$VPY" -m sphinx -W --keep-going -b html docs docs/_build/html
    echo "docs: docs/_build/html/index.html"
    ;;
  help|-h|--help)
    sed -n '2,11p' "$0"
    ;;
  *)
    echo "dev.sh: unknown command '$cmd'" >&2
    sed -n '2,11p' "$0" >&2
    exit 2
    ;;
esac
