#!/usr/bin/env bash
# Runs one suite of `make test` and records how it ended, for test/summary.ts.
#
#   test/suite.sh RESULTS NAME REPORT CMD [ARG...]
#
# REPORT is the suite's results file in RESULTS: for NAME.tap this script
# writes CMD's standard output there (TAP), for a .json file CMD writes it
# itself (vitest's JSON reporter). The outcome goes to RESULTS/NAME.suite:
# one line "exit=<status> seconds=<wall time> report=<REPORT>". The script
# itself always succeeds: the summary decides, so that every suite runs and
# one that stops early (a time-out, a crash) is still counted.
set -uo pipefail

[ $# -ge 4 ] || { echo "usage: $0 RESULTS NAME REPORT CMD [ARG...]" >&2; exit 2; }
results=$1 name=$2 report=$3
shift 3

printf '[suite] %s: starting\n' "$name" >&2
started=$(date +%s)
if [[ $report == *.tap ]]; then
	"$@" | tee "$results/$report"
	rc=${PIPESTATUS[0]}
else
	"$@"
	rc=$?
fi
seconds=$(($(date +%s) - started))
printf 'exit=%d seconds=%d report=%s\n' "$rc" "$seconds" "$report" >"$results/$name.suite"
printf '[suite] %s: exit status %d after %d s\n' "$name" "$rc" "$seconds" >&2
exit 0
