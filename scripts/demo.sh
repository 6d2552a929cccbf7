#!/usr/bin/env bash
# The photocloud story on one machine, narrated. Grows with every capability.
set -euo pipefail
bin=${1:-.build/release/photocloud}
out=demo-out
rm -rf "$out"; mkdir -p "$out"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ photocloud %s\n' "$*"; "$bin" "$@"; }

say "photocloud: one binary for servers, peers, steganography and benchmarks"
run --help | sed -n '1,20p'

say "A cloud is described by a cluster file: servers, their control and data endpoints, a shared secret"
run cluster init --servers 3 --base-port 7400 --out "$out/cluster.toml"
run cluster show --cluster "$out/cluster.toml"
echo "(the secret is written with owner-only permissions: $(stat -c %A "$out/cluster.toml"))"

say "Bad input gets one clear error line and exit status 1, never a crash"
printf '[cluster]\nsecret = "%s"\n[[server]]\nid = 1\ncontrol = "127.0.0.1:7101"\ndata = "127.0.0.1"\n' \
  "$(printf 'ab%.0s' $(seq 32))" > "$out/broken.toml"
set +e
"$bin" cluster show --cluster "$out/broken.toml"; echo "exit status $?"
"$bin" cluster show --cluster "$out/missing.toml"; echo "exit status $?"
set -e

say "Everything travels over UDP through AsyncUDP: one epoll thread, tasks resumed on it"
run bench udp --roundtrips 20000 --json "$out/udp.json"
echo "(JSON in $out/udp.json)"

say "Done. Next in the story: steganography, reliable transfer, the cloud itself."
