#!/usr/bin/env bash
# Idempotent setup: Debian packages (when root or sudo is available), .venv, pinned CPU torch, edgefmr.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm stm32flash postgresql g++ iverilog yosys chromium"
missing=""
for p in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo"; else SUDO="none"; fi
  if [ "$SUDO" = none ]; then
    echo "edgefmr setup: missing Debian packages:$missing" >&2
    echo "  install them with: sudo apt-get install -y$missing" >&2
    exit 1
  fi
  echo "edgefmr setup: installing Debian packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "edgefmr setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.edgefmr-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "edgefmr setup: installing Python packages into .venv (torch pinned to the 2.13.0 CPU build)"
  .venv/bin/pip install -q --upgrade pip
  # torch first and pinned, so that nothing later resolves an unpinned (CUDA) build.
  .venv/bin/pip install -q "torch==2.13.0"
  .venv/bin/pip install -q -e ".[dev]"
  echo "$want" > "$stamp"
fi
