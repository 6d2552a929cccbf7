#!/usr/bin/env bash
# Installs what the browser test needs when it is missing: Debian's chromium
# and chromium-driver, and Python's selenium (from PyPI). Does nothing when
# they are present.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo=sudo; else
      echo "error: the browser test needs ${missing[*]}; run as root or install them with apt-get" >&2; exit 1
    fi
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! python3 -c "import selenium" >/dev/null 2>&1; then
  echo "installing: selenium (PyPI)"
  python3 -m pip install -q selenium
fi
