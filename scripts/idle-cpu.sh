#!/usr/bin/env bash
# CPU an idle cloud uses: starts 3 servers, lets them settle, then reads each
# one's utime+stime from /proc over SECONDS_IDLE seconds (default 30).
# Usage: scripts/idle-cpu.sh [path/to/photocloud]
set -euo pipefail
bin=${1:-.build/release/photocloud}
seconds=${SECONDS_IDLE:-30}
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
"$bin" cluster init --servers 3 --base-port 7700 --out "$dir/cluster.toml" >/dev/null
pids=()
for id in 1 2 3; do
  "$bin" server --id "$id" --cluster "$dir/cluster.toml" --data "$dir/server-$id" >"$dir/server-$id.log" 2>&1 &
  pids+=($!)
done
sleep 3
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
declare -A before
for pid in "${pids[@]}"; do before[$pid]=$(ticks "$pid"); done
sleep "$seconds"
for i in "${!pids[@]}"; do
  pid=${pids[$i]}
  used=$(( $(ticks "$pid") - before[$pid] ))
  awk -v id=$((i + 1)) -v t="$used" -v hz="$hz" -v s="$seconds" \
    'BEGIN { printf "server %d: %.2f s of CPU in %d s idle = %.2f%% of a core\n", id, t / hz, s, 100 * t / hz / s }'
done
