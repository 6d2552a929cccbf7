#!/usr/bin/env bash
# Installs what the browser test needs when it is missing: Debian's chromium
# and chromium-driver, and Python's selenium (from PyPI). Does nothing when
# they are present.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
"$(dirname "$0")/apt-install.sh" ${missing[@]+"${missing[@]}"}
if ! python3 -c "import selenium" >/dev/null 2>&1; then
  echo "installing: selenium (PyPI)"
  python3 -m pip install -q selenium
fi
