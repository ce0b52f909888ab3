#!/bin/bash
# Runs the test suites and prints one summary line "N passed, N failed".
#   tests/run.sh [unit|interop|e2e|conformance|fuzz|bench]...   (default: all of them;
#   under SANITIZE=1 neither fuzz nor bench)
# Unit suites are Criterion binaries in $BUILD/tests; interop and e2e suites
# are scripts (tests/interop/*.sh, tests/e2e/*.sh) that print one line per
# case: "PASS name" or "FAIL name: why", and exit non-zero if any failed.
# bench runs `QUICK=1 bench/run.sh`: a bench case passes when it produced all
# its rows with figures (never a speed is asserted).
set -u
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-build}
export TOP=$PWD
if [ $# -gt 0 ]; then kinds=$*
elif [ "${SANITIZE:-}" = 1 ]; then kinds="unit interop e2e conformance"   # the fuzzers carry ASan already
else kinds="unit interop e2e conformance fuzz bench"; fi
passed=0; failed=0; failed_names=()
# one PKI for the whole run
export PKI=${PKI:-$BUILD/pki}
# (gen.sh does nothing when the PKI is current, and remakes an older one)
mkdir -p "$BUILD"
tests/pki/gen.sh "$PKI" >"$BUILD/pki.log" 2>&1 || { echo "PKI generation failed, see $BUILD/pki.log"; tail -20 "$BUILD/pki.log"; exit 1; }
PKI=$(cd "$PKI" && pwd); export PKI
if [ "${SANITIZE:-}" = 1 ]; then
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi
for kind in $kinds; do
    case $kind in
    unit)
        # no binaries means nothing was built: a failure, never "0 passed"
        if ! compgen -G "$BUILD/tests/test_*" >/dev/null; then
            failed=$((failed + 1)); failed_names+=("unit:none built")
            echo "unit: no test binaries in $BUILD/tests (run make unit first)"
        fi
        for t in "$BUILD"/tests/test_*; do
            [ -x "$t" ] || continue
            out=$("$t" --jobs 2 2>&1); rc=$?
            syn=$(printf '%s\n' "$out" | grep 'Synthesis:' | tail -1)
            # "[====] Synthesis: Tested: 5 | Passing: 5 | Failing: 0 | Crashing: 0"
            p=$(printf '%s' "$syn" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
            f=$(printf '%s' "$syn" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p')
            p=${p:-0}; f=${f:-0}
            if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
            # Criterion counts a test as passed even when a sanitizer reported in it
            if printf '%s\n' "$out" | grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:'; then
                f=$((f + 1)); p=$((p > 0 ? p - 1 : 0))
                printf '%s\n' "$out" | grep -E -A20 'ERROR: (Address|Leak)Sanitizer|runtime error:' | head -60
            fi
            passed=$((passed + p)); failed=$((failed + f))
            if [ "$f" != 0 ]; then
                failed_names+=("unit:$(basename "$t")")
                printf '%s\n' "$out" | grep -v '^\[----\]' | tail -40
            fi
            printf 'unit %-28s %s passed, %s failed\n' "$(basename "$t")" "$p" "$f"
        done ;;
    interop|e2e|conformance)
        for s in tests/$kind/*.sh; do
            [ -x "$s" ] || continue
            log="$BUILD/$kind-$(basename "$s" .sh).log"
            "$s" >"$log" 2>&1; rc=$?
            p=$(grep -c '^PASS' "$log"); f=$(grep -c '^FAIL' "$log")
            if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; echo "FAIL $(basename "$s"): exit $rc" >>"$log"; fi
            passed=$((passed + p)); failed=$((failed + f))
            grep -E '^(MATRIX|  )' "$log" || true
            if [ "$f" != 0 ]; then
                failed_names+=("$kind:$(basename "$s")")
                grep '^FAIL' "$log" | head -20
            fi
            printf '%s %-28s %s passed, %s failed\n' "$kind" "$(basename "$s" .sh)" "$p" "$f"
        done ;;
    fuzz)
        # each harness from its seeds for FUZZ_SECONDS; a crash, leak or timeout fails
        for fz in build/fuzz/fuzz_*; do
            [ -x "$fz" ] || continue
            name=${fz##*/fuzz_}
            corpus=build/fuzz/corpus/$name
            mkdir -p "$corpus"
            [ -d tests/fuzz/seeds/$name ] && cp -n tests/fuzz/seeds/$name/* "$corpus"/ 2>/dev/null
            [ "$name" = policy ] && cp -n examples/policies/*.ini "$corpus"/ 2>/dev/null
            log="build/fuzz/$name.log"
            "$fz" -max_total_time="${FUZZ_SECONDS:-60}" -timeout=10 -rss_limit_mb=2048 \
                -artifact_prefix=build/fuzz/"$name"- "$corpus" >"$log" 2>&1; rc=$?
            runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -1)
            if [ $rc -eq 0 ]; then
                passed=$((passed + 1)); printf 'fuzz %-28s ok (%s)\n' "$name" "$runs"
            else
                failed=$((failed + 1)); failed_names+=("fuzz:$name")
                grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -10
                printf 'fuzz %-28s FAILED (see %s)\n' "$name" "$log"
            fi
        done ;;
    bench)
        # each case small; "PASS bench NAME" / "FAIL bench NAME: why" per case, then the table
        log="$BUILD/bench-quick.log"
        QUICK=1 bench/run.sh >"$log" 2>&1; rc=$?
        p=$(grep -c '^PASS bench' "$log"); f=$(grep -c '^FAIL bench' "$log")
        if [ $rc -ne 0 ] && [ "$f" = 0 ]; then
            f=1; echo "FAIL bench/run.sh: exit $rc"; tail -5 "$log"
        fi
        passed=$((passed + p)); failed=$((failed + f))
        [ "$f" != 0 ] && failed_names+=("bench")
        grep -E '^(PASS|FAIL) bench ' "$log" | while read -r verdict _ name rest; do
            printf 'bench %-28s %s %s\n' "$name" "$verdict" "$rest"
        done
        echo "bench: the QUICK=1 table is in $BUILD/bench/table.txt" ;;
    *) echo "unknown suite kind: $kind"; exit 2 ;;
    esac
done
[ ${#failed_names[@]} -gt 0 ] && echo "failing suites: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
