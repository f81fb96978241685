#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/fuzz_targets for SECONDS each, one after another, on the
# nightly toolchain. New inputs that add coverage are merged (libFuzzer -merge=1, so only inputs
# that add coverage are kept) into fuzz/corpus/<target>, which core's tests replay on stable.
# Prints executions and coverage per target; exits 1 if any target found a crash (the inputs
# are left in fuzz/artifacts/<target>/).
#
#   fuzz/run.sh SECONDS [TARGET...]      (default: every target)
set -euo pipefail

secs=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
cd "$(dirname "$0")"

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi


work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
printf '%-16s %8s %14s %10s %8s %8s %s\n' target seconds executions exec/s cov ft corpus
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "$work/$t"
    log="$work/$t.log"
    status=0
    # New entries go to the first directory (scratch); the committed corpus seeds the run.
    cargo +nightly fuzz run "$t" "$work/$t" "corpus/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 >"$log" 2>&1 || status=$?
    before=$(find "corpus/$t" -type f | wc -l)
    cargo +nightly fuzz run "$t" "corpus/$t" "$work/$t" -- -merge=1 >>"$work/$t.merge" 2>&1 || true
    after=$(find "corpus/$t" -type f | wc -l)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    printf '%-16s %8s %14s %10s %8s %8s %s\n' "$t" "$secs" "${execs:-?}" "${rate:-?}" \
        "${cov:-?}" "${ft:-?}" "$before -> $after"
    if [ "$status" -ne 0 ]; then
        failed+=("$t")
        echo "  $t FAILED (exit $status); the end of its log:" >&2
        tail -40 "$log" | sed 's/^/    /' >&2
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
