#!/usr/bin/env bash
# Installs the Debian packages Trimtab builds against (oneDNN, OpenBLAS) and the Python
# the asset script uses to reach PyPI, when they are missing. Needs root (or sudo).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
missing=()
for pkg in libdnnl-dev libopenblas-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "installing: ${missing[*]}" >&2
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
