#!/usr/bin/env bash
# Runs the fuzz targets of idl/fuzz (what `make fuzz-smoke` and `make fuzz-long` call).
#
#   idl/fuzz/run.sh smoke [target...]   each target for FUZZ_SECONDS (default 8) seconds
#   idl/fuzz/run.sh long  [target...]   each target until FUZZ_RUNS (default 10,000,000) executions,
#                                       or FUZZ_SECONDS seconds if that is set and comes first
#
# No target named: every target `cargo fuzz list` knows. All targets are built once, with
# cargo-fuzz on the project's stable toolchain, without a sanitizer (`-s none`: sanitizers need
# a nightly compiler; decision 028) and with debug assertions (overflow checks) on. Each run
# starts from the committed seeds (seeds/<target>) and the corpus earlier runs on this machine
# grew (corpus/<target>, not committed), with the target's dictionary (dicts/<target>.dict) if
# there is one. A crash, a panic, an input over FUZZ_TIMEOUT seconds (default 10) or a process
# over FUZZ_RSS_MB megabytes (default 2048) fails the run: the input that did it is saved under
# artifacts/<target>/ and its path printed, and the script exits non-zero. Each target's
# executions, speed, coverage and corpus size are printed, and appended to FUZZ_REPORT (a file)
# when it is set.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

mode=${1:?usage: run.sh smoke|long [target...]}
shift
case "$mode" in
  smoke) limit=(-max_total_time="${FUZZ_SECONDS:-8}") ;;
  long) limit=(-runs="${FUZZ_RUNS:-10000000}" ${FUZZ_SECONDS:+-max_total_time="$FUZZ_SECONDS"}) ;;
  *) echo "run.sh: unknown mode $mode (smoke or long)" >&2; exit 2 ;;
esac
build=(-s none --debug-assertions)

cargo fuzz build "${build[@]}"
if [ $# -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
else
  targets=("$@")
fi

for target in "${targets[@]}"; do
  corpus=corpus/$target
  mkdir -p "$corpus" "artifacts/$target"
  inputs=("$corpus")
  [ -d "seeds/$target" ] && inputs+=("seeds/$target")
  options=("${limit[@]}" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb="${FUZZ_RSS_MB:-2048}"
    -print_final_stats=1)
  [ -f "dicts/$target.dict" ] && options+=(-dict="dicts/$target.dict")
  log=$(mktemp)
  start=$(date +%s)
  status=0
  cargo fuzz run "${build[@]}" "$target" "${inputs[@]}" -- "${options[@]}" >"$log" 2>&1 || status=$?
  seconds=$(($(date +%s) - start))
  runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
  speed=$(awk '/stat::average_exec_per_sec/ {print $2}' "$log")
  coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  line="$target: ${runs:-?} executions in ${seconds} s (${speed:-?}/s), coverage ${coverage:-?}, corpus $(find "$corpus" -type f | wc -l) inputs"
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "FAILED $line" >&2
    rm -f "$log"
    exit "$status"
  fi
  echo "$line"
  [ -n "${FUZZ_REPORT:-}" ] && echo "$line" >>"$FUZZ_REPORT"
  rm -f "$log"
done
