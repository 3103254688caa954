#!/bin/sh
# SPDX-License-Identifier: ISC
# make bench: every benchmark, one after the other (they share 2 cores).
B=${B:-build}
export B
cd "$(dirname "$0")/.." || exit 2
rc=0
for b in "$B"/bench/bench_*; do
	[ -x "$b" ] || continue
	echo "== $(basename "$b")"
	"$b" || rc=1
done
exit $rc
