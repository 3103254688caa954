#!/bin/sh
# SPDX-License-Identifier: ISC
# Run every test program and script; each prints "...: N passed, M failed"
# (the name: lower case letters, digits and '_', as in "fuzz_proto").
# A program that dies before printing its line counts as one failure.
# Ends with one line: N passed, N failed
B=${B:-build}
export B
# UBSan reports and carries on, exit status 0: under SAN=1 it must end the
# program instead, so undefined behaviour in a test program or the library
# fails the suite as ASan's reports do.  (In a daemon's log any report
# fails the suite anyway: tests/itest.c, tests/lib.sh.)
if [ -n "${SAN:-}" ]; then
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	export UBSAN_OPTIONS
fi
cd "$(dirname "$0")/.." || exit 2
LOG=${TESTLOG:-$B/tests/log}
mkdir -p "$LOG"
# Daemon logs kept by a failing suite (tests/itest.c, tests/lib.sh) belong
# to the run that kept them.
rm -f "$LOG"/*.daemon*.log
pass=0 fail=0
run_one() {
	name=$1
	shift
	out="$LOG/$name.out"
	start=$(date +%s)
	timeout -k 10 600 "$@" >"$out" 2>&1
	rc=$?
	line=$(grep -E '^[a-z][a-z0-9_]*: [0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	if [ -z "$line" ]; then
		p=0 f=1
		echo "FAIL $name: no result line (exit $rc); see $out"
		tail -n 20 "$out" | sed 's/^/    /'
	else
		p=$(echo "$line" | sed -E 's/^[a-z][a-z0-9_]*: ([0-9]+) passed.*/\1/')
		f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
		[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
		st=ok
		[ "$f" -ne 0 ] && st=FAIL
		echo "$st $name: $p passed, $f failed ($(($(date +%s) - start))s)"
		[ "$f" -ne 0 ] && grep -E 'FAIL|failed|Test: .*FAILED|^ *[0-9]+\. ' "$out" | head -n 30 | sed 's/^/    /'
	fi
	pass=$((pass + p))
	fail=$((fail + f))
}
for t in "$B"/tests/test_*; do
	[ -x "$t" ] || continue
	run_one "$(basename "$t")" "$t"
done
for t in tests/integration/*.sh; do
	[ -f "$t" ] || continue
	run_one "$(basename "$t" .sh)" sh "$t"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
