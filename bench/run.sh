#!/bin/bash
# Runs every bench case (bench/cases/NN-name.sh, in order) and prints one
# table of their rows (bench/table.py), with the machine and the date.
#   bench/run.sh            the full bench (about 10 minutes on 2 cores)
#   QUICK=1 bench/run.sh    every case small: proves each runs and yields numbers
# Env: BUILD (default build), PKI (default $BUILD/pki), BENCH_ONLY=REGEX (run
# the cases whose file name matches). Each case's stdout (its ROW lines) goes
# to $BUILD/bench/NN-name.rows, its stderr to $BUILD/bench/NN-name.log.
# Before the table: "PASS bench NN-name" when a case produced all its rows
# with numbers, else "FAIL bench NN-name: why". Exits non-zero if a case
# failed to produce its numbers, never because a goal is not met.
set -u
cd "$(dirname "$0")/.." || exit 1
export BUILD=${BUILD:-build}
export TOP=$PWD
export QUICK=${QUICK:-}
export PKI=${PKI:-$BUILD/pki}
OUT=$BUILD/bench
mkdir -p "$OUT"
tests/pki/gen.sh "$PKI" >"$OUT/pki.log" 2>&1 || { echo "PKI generation failed, see $OUT/pki.log"; exit 1; }
PKI=$(cd "$PKI" && pwd)
# a case that overruns is stopped (with its servers: timeout signals its process group)
if [ "$QUICK" = 1 ]; then limit=${BENCH_CASE_TIMEOUT:-60}; else limit=${BENCH_CASE_TIMEOUT:-400}; fi

started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
failed=0
: >"$OUT/all.rows"
for c in bench/cases/[0-9]*.sh; do
    [ -f "$c" ] || continue
    name=$(basename "$c" .sh)
    [[ $name =~ ${BENCH_ONLY:-.} ]] || continue
    echo "bench: $name ..." >&2
    t0=$(date +%s)
    timeout -k 10 "$limit" bash "$c" >"$OUT/$name.rows" 2>"$OUT/$name.log"
    rc=$?
    secs=$(($(date +%s) - t0))
    grep -P '^ROW\t' "$OUT/$name.rows" >>"$OUT/all.rows"
    rows=$(grep -cP '^ROW\t' "$OUT/$name.rows")
    # a row's two figures are fields 4 and 6
    na=$(grep -P '^ROW\t' "$OUT/$name.rows" | awk -F'\t' '$4 == "NA" || $6 == "NA"' | wc -l)
    why=
    if [ $rc = 124 ] || [ $rc = 137 ]; then why="stopped after $limit s"
    elif [ "$rows" = 0 ]; then why="no rows (exit $rc)"
    elif [ "$na" != 0 ]; then why="$na of $rows rows without a figure"
    elif [ $rc != 0 ]; then why="exit $rc"; fi
    if [ -n "$why" ]; then
        failed=1
        echo "FAIL bench $name: $why, see $OUT/$name.log"
    else
        echo "PASS bench $name ($rows rows, $secs s)"
    fi
done
echo
python3 bench/table.py --started "$started" --quick "${QUICK:-0}" <"$OUT/all.rows" | tee "$OUT/table.txt"
exit $failed
