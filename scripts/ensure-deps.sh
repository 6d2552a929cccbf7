#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build photocloud: pkg-config,
# libpng, libjpeg-turbo, libdeflate and sqlite3 development files, and strace for the tests. Does nothing when they are present.
set -euo pipefail

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
# The tests interrupt a real write and read its system calls with strace.
command -v strace >/dev/null 2>&1 || missing+=(strace)
# The several-host tests make network namespaces with iproute2.
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
if command -v pkg-config >/dev/null 2>&1; then
  pkg-config --exists libpng || missing+=(libpng-dev)
  pkg-config --exists libjpeg || missing+=(libjpeg62-turbo-dev)
  pkg-config --exists sqlite3 || missing+=(libsqlite3-dev)
  pkg-config --exists libdeflate || missing+=(libdeflate-dev)
else
  missing+=(libpng-dev libjpeg62-turbo-dev libsqlite3-dev libdeflate-dev)
fi

"$(dirname "$0")/apt-install.sh" ${missing[@]+"${missing[@]}"}

if ! command -v swift >/dev/null 2>&1; then
  echo "error: swift is not on PATH; photocloud needs Swift 6 (https://swift.org/install)" >&2
  exit 1
fi
