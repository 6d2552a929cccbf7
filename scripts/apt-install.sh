#!/usr/bin/env bash
# Installs the Debian packages named, as root or through sudo, quietly:
# what ensure-deps.sh and ensure-browser.sh find missing.
set -euo pipefail
[ $# -gt 0 ] || exit 0
echo "installing: $*"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=sudo; else
    echo "error: need $*; run as root or install them with apt-get" >&2; exit 1
  fi
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
