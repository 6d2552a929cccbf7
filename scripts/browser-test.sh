#!/usr/bin/env bash
# The web album in a real browser: a cloud of three servers, alice and bob
# with `peer --web`, and headless Chromium driven through the story by
# scripts/browser-test.py (keyboard only). Screenshots go to OUT (default
# .build/browser-test). Usage: scripts/browser-test.sh [BINARY] [OUT]
set -euo pipefail
bin=$(cd "$(dirname "${1:-.build/debug/photocloud}")" && pwd)/$(basename "${1:-.build/debug/photocloud}")
out=$(mkdir -p "${2:-.build/browser-test}" && cd "${2:-.build/browser-test}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/photocloud-browser.XXXXXX")
pids=()
finish() {
  local status=$?
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  if [ "$status" -ne 0 ]; then
    echo "browser test failed; the daemons' logs:" >&2
    tail -n 20 "$work"/*.log >&2 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap finish EXIT

"$here/ensure-browser.sh"
rm -f "$out"/*.png

# Three servers on ports no other test of this run uses (the Swift tests finished before).
base=$((20000 + RANDOM % 10000))
"$bin" cluster init --servers 3 --base-port "$base" --out "$work/cluster.toml" >/dev/null
for id in 1 2 3; do
  "$bin" server --id "$id" --cluster "$work/cluster.toml" --data "$work/server-$id" > "$work/server-$id.log" 2>&1 &
  pids+=($!)
  disown $!
done
export PHOTOCLOUD_HOME="$work/home" PHOTOCLOUD_CLUSTER="$work/cluster.toml"
for user in alice bob; do
  "$bin" peer --user "$user" --web > "$work/$user.log" 2>&1 &
  pids+=($!)
  disown $!
done
for _ in $(seq 1 200); do
  [ -s "$work/home/alice/web-url" ] && [ -s "$work/home/bob/web-url" ] && "$bin" who | grep -q "^online: *alice, bob" && break
  sleep 0.1
done
cp Fixtures/covers/chelsea.png "$work/chelsea.png"
timeout 300 python3 "$here/browser-test.py" --alice "$(cat "$work/home/alice/web-url")" --bob "$(cat "$work/home/bob/web-url")" \
  --photo "$work/chelsea.png" --out "$out"
