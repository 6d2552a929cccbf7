#!/usr/bin/env bash
# `make fuzz`: builds the libFuzzer targets (Fuzz/Package.swift) with the
# toolchain's -sanitize=fuzzer and AddressSanitizer, then runs each one after
# the other for FUZZ_SECONDS (default 60), with bounded memory, and prints a
# line per target. Seeds come from Fuzz/corpus/<target> and
# Fuzz/regressions/<target>; what a run adds goes to Fuzz/work (git-ignored),
# and so do crashes. Exits non-zero when any target found something.
#
#   FUZZ_SECONDS=180 FUZZ_TARGETS="wire png" make fuzz
#
# See docs/fuzzing.md.
set -uo pipefail

cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-wire transfer replay png}
rss_mb=${FUZZ_RSS_MB:-2048}
work=Fuzz/work
# The Swift runtime's crash backtracer reads memory AddressSanitizer guards: leave crash reports to the sanitizer.
export SWIFT_BACKTRACE=enable=no

flags=(-c release --package-path Fuzz
       -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
       -Xcc -fsanitize=fuzzer-no-link,address)

runtime=$(find "$(dirname "$(readlink -f "$(command -v swift)")")/../lib" -name 'libclang_rt.fuzzer-*.a' 2>/dev/null | head -1)
if [ -z "$runtime" ]; then
  echo "error: this Swift toolchain has no libFuzzer runtime (libclang_rt.fuzzer); install a swift.org toolchain for Linux" >&2
  exit 1
fi

mkdir -p "$work/logs"
echo "building the fuzz targets (release, -sanitize=fuzzer,address)..."
if ! swift build "${flags[@]}" >"$work/logs/build.log" 2>&1; then
  tail -30 "$work/logs/build.log" >&2
  echo "error: the fuzz targets did not build (log: $work/logs/build.log)" >&2
  exit 1
fi
bin=$(swift build "${flags[@]}" --show-bin-path)

found=0
for target in $targets; do
  case $target in
    wire)     exe=FuzzWire;     max_len=65600;   timeout=10 ;;
    transfer) exe=FuzzTransfer; max_len=262144;  timeout=10 ;;
    replay)   exe=FuzzReplay;   max_len=16384;   timeout=10 ;;
    png)      exe=FuzzPNG;      max_len=1048576; timeout=30 ;;
    *) echo "unknown fuzz target $target (wire, transfer, replay, png)" >&2; exit 2 ;;
  esac
  mkdir -p "$work/corpus/$target" "$work/artifacts/$target" "$work/logs" "Fuzz/corpus/$target"
  seeds=("Fuzz/corpus/$target")
  [ -d "Fuzz/regressions/$target" ] && seeds+=("Fuzz/regressions/$target")
  log="$work/logs/$target.log"
  started=$(date +%s)
  "$bin/$exe" -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -malloc_limit_mb="$rss_mb" -max_len="$max_len" \
    -timeout="$timeout" -print_final_stats=1 -artifact_prefix="$work/artifacts/$target/" \
    "$work/corpus/$target" "${seeds[@]}" >"$log" 2>&1
  status=$?
  elapsed=$(( $(date +%s) - started ))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*/[0-9a-zA-Z]*' "$log" | tail -1)
  if [ "$status" -ne 0 ]; then
    # A crash, a failed check, a leak, an input over the memory or time limit: libFuzzer saved it and stopped.
    found=1
    artifact=$(sed -n 's/.*Test unit written to \([^ ]*\).*/\1/p' "$log" | tail -1)
    verdict="crashes: ${artifact:-see the log} (exit $status, log $log)"
  else
    verdict="crashes: none"
  fi
  printf '%-8s %s runs in %s s (%s/s), %s, peak %s MB, %s\n' \
    "$target" "${runs:-?}" "$elapsed" "${rate:-?}" "${cov:-cov ?}" "${rss:-?}" "$verdict"
done
exit $found
