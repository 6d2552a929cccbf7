#!/usr/bin/env bash
# The photocloud story on one machine, narrated. Grows with every capability.
set -euo pipefail
bin=${1:-.build/release/photocloud}
out=demo-out
rm -rf "$out"; mkdir -p "$out"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ photocloud'; printf ' %q' "$@"; printf '\n'; "$bin" "$@"; }
# Runs like `run` and keeps the last word printed (an id) in $last_word.
run_keep() { local text; text=$(run "$@"); printf '%s\n' "$text"; last_word=$(printf '%s\n' "$text" | tail -1 | awk '{print $NF}'); }

say "photocloud: one binary for servers, peers, steganography and benchmarks"
run --help | sed -n '1,20p'

say "A cloud is described by a cluster file: servers, their control and data endpoints, a shared secret"
run cluster init --servers 3 --base-port 7400 --out "$out/cluster.toml"
run cluster show --cluster "$out/cluster.toml"
echo "(the secret is written with owner-only permissions: $(stat -c %A "$out/cluster.toml"))"

say "Users get the public cluster file: the servers and their keys, never the secret"
run cluster public --cluster "$out/cluster.toml" --out "$out/public.toml"
if grep -q '^secret' "$out/public.toml"; then echo "public.toml holds the secret: this is a bug"; exit 1; else echo "(public.toml holds no secret)"; fi
echo "A server refuses a cluster file others may read, as ssh refuses such a key:"
cp "$out/cluster.toml" "$out/readable.toml"; chmod 644 "$out/readable.toml"
set +e
"$bin" server --id 1 --cluster "$out/readable.toml" --data "$out/unused"; echo "exit status $?"
set -e

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

say "The cloud's 'encryption' is steganography: a keyed, sealed payload spread over a real photo"
covers=Fixtures/covers
run stego capacity "$covers/hubble_deep_field.png"
head -c 120000 /dev/urandom > "$out/secret.bin"
run stego embed --cover "$covers/hubble_deep_field.png" --payload "$out/secret.bin" --out "$out/stego.png" --key "demo passphrase"
run stego extract --in "$out/stego.png" --out "$out/recovered.bin" --key "demo passphrase"
cmp "$out/secret.bin" "$out/recovered.bin" && echo "(recovered file is identical)"
echo "A wrong key finds nothing, and says so:"
set +e
"$bin" stego extract --in "$out/stego.png" --out "$out/nothing.bin" --key "guess"; echo "exit status $?"
echo "A cover too small says what would fit:"
"$bin" stego embed --cover "$covers/camera.png" --payload "$out/secret.bin" --out "$out/nope.png" --key k; echo "exit status $?"
set -e

say "Steganography at speed: 1 MB into a 12-megapixel photo, against a bare libpng decode + encode"
run bench stego --repeats 1 --json "$out/stego.json"

say "Images travel as reliable UDP transfers: a window, selective acks, adaptive timeout, a digest over the whole object"
run bench transfer --size 32MiB --loss 0.1 --duplicate 0.02 --reorder 0.05
run bench transfer --size 8MiB --delay-ms 5 --loss 0.01 --compare

say "The cloud: three server processes pass a work token around a ring, with heartbeats"
pids=()
trap 'kill -9 "${pids[@]}" 2>/dev/null || true' EXIT
for id in 1 2 3; do
  printf '$ photocloud server --id %s --cluster %q --data %q &\n' "$id" "$out/cluster.toml" "$out/server-$id"
  "$bin" server --id "$id" --cluster "$out/cluster.toml" --data "$out/server-$id" > "$out/server-$id.log" 2>&1 &
  pids+=($!)
done
sleep 1
run status --cluster "$out/cluster.toml"
say "The encryption service: a file goes to the cloud and comes back hidden in a cover"
printf 'meet me at the old harbour at seven\n' > "$out/note.txt"
run encrypt "$out/note.txt" --key sunset --out "$out/note.png" --cluster "$out/cluster.toml"
run stego extract --in "$out/note.png" --key sunset --out "$out/note-back.txt"
cat "$out/note-back.txt"
say "Users: alice and bob run their daemons, which register with every server"
for user in alice bob; do
  printf '$ photocloud peer --user %s --home %q --cluster %q &\n' "$user" "$out/home" "$out/cluster.toml"
  "$bin" peer --user "$user" --home "$out/home" --cluster "$out/cluster.toml" > "$out/peer-$user.log" 2>&1 &
  pids+=($!)
done
sleep 1.5
run who --cluster "$out/cluster.toml"

say "Sharing: alice shares a photo; bob browses the previews, asks for 2 views; alice approves"
export PHOTOCLOUD_HOME="$out/home" PHOTOCLOUD_CLUSTER="$out/cluster.toml"
cp Fixtures/covers/chelsea.png "$out/chelsea.png"
cp Fixtures/covers/coffee.png "$out/coffee.png"
run_keep share "$out/chelsea.png" --title "chelsea the cat" --user alice; photo=$last_word
run album --user alice
run browse alice --out "$out/previews" --user bob
echo "(the preview is at most 256 pixels on its longest side: $("$bin" stego capacity "$out/previews/$photo.png" | cut -d' ' -f2 | tr -d ,))"
run_keep request "alice/$photo" --views 2 --user bob; request=$last_word
run requests --user alice
echo "alice approves: her daemon seals the photo for bob, the cloud hides it in a cover, bob's daemon takes it"
run approve "$request" --user alice
run inbox --user bob
run view "$photo" --out "$out/seen-1.png" --user bob
cmp "$out/chelsea.png" "$out/seen-1.png" && echo "(the very file alice shared)"
run view "$photo" --out "$out/seen-2.png" --user bob
echo "A third view is refused, and nothing is written:"
run view "$photo" --out "$out/seen-3.png" --user bob || true
echo "alice grants one more view:"
run grant "$photo" --to bob --views 1 --user alice
run view "$photo" --out "$out/seen-4.png" --user bob
echo "alice sends another photo directly (PHOTOCLOUD_USER names the sender):"
PHOTOCLOUD_USER=alice run_keep send "$out/coffee.png" --to bob; sent=$last_word
run view "$sent" --out "$out/coffee-seen.png" --user bob
echo "(the cloud saw both photos only sealed for bob; the integration test searches the servers' folders for them)"

say "The mailbox: bob goes offline; what alice sends him waits on the servers"
echo "bob stops his daemon (Ctrl-C): he is offline at once"
kill -INT "${pids[4]}"; sleep 0.5
run who
echo "alice gives bob 5 views and sends him a third photo; both are queued (stored on a majority of the servers):"
run grant "$photo" --to bob --views 5 --user alice
run_keep send "$out/coffee.png" --to bob --views 3 --user alice
run status
echo "kill -9 of server 1; the others notice within a few hundred milliseconds and the token lives on:"
kill -9 "${pids[0]}"; sleep 0.5
run status
echo "Requests still succeed; a client sees the crash only as latency:"
run encrypt "$out/note.txt" --key sunset --out "$out/note2.png"
echo "server 1 restarts with its data folder (its mailbox too) and rejoins the ring:"
"$bin" server --id 1 --cluster "$out/cluster.toml" --data "$out/server-1" > "$out/server-1b.log" 2>&1 &
pids[0]=$!
sleep 1
echo "bob comes back; his daemon picks up what waited, applies it, and the servers delete it:"
printf '$ photocloud peer --user bob &\n'
"$bin" peer --user bob > "$out/peer-bob-2.log" 2>&1 &
pids[4]=$!
for _ in $(seq 1 50); do
  "$bin" inbox --user bob 2>/dev/null | grep -q "chelsea the cat from alice  5 views left" && break
  sleep 0.2
done
run inbox --user bob
run status
unset PHOTOCLOUD_HOME PHOTOCLOUD_CLUSTER
kill "${pids[@]}" 2>/dev/null || true

say "The original experiment: 200 clients x 5 requests, 100 ms apart, with kill -9 of the token holder"
echo "(the original lost 17-42% of these requests; every answer here is checked by extracting it)"
run bench cluster --clients 200 --requests 5 --interval-ms 100 --faults kill
run bench cluster --clients 200 --requests 5 --interval-ms 100 --faults offline-token

say "Done."
