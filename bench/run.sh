#!/bin/sh
# SPDX-License-Identifier: ISC
# make bench: every benchmark, one after the other (they share 2 cores),
# then one table of the headline figures.
#
# A benchmark contributes rows by printing lines of exactly the form
#	TABLE <id>|<description>|<median>|<ratio>|<target>
# (ratio: ours against the same work in-process, in the same run; target:
# what the ratio or figure should be, and whether it was met).  The rows
# are collected from every program, in the order the programs run, and
# printed together at the end; nothing here knows which rows exist.
B=${B:-build}
export B
cd "$(dirname "$0")/.." || exit 2
rows=$(mktemp "${TMPDIR:-/tmp}/cpbench-rows.XXXXXX") || exit 2
out=$(mktemp "${TMPDIR:-/tmp}/cpbench-out.XXXXXX") || exit 2
st=$(mktemp "${TMPDIR:-/tmp}/cpbench-st.XXXXXX") || exit 2
trap 'rm -f "$rows" "$out" "$st"' EXIT INT TERM
rc=0
for b in "$B"/bench/bench_*; do
	[ -x "$b" ] || continue
	echo "== $(basename "$b")"
	# Shown as it runs; its status through a file (a pipe loses it).
	{ "$b" 2>&1; echo $? >"$st"; } | tee "$out" | grep -v '^TABLE '
	if [ "$(cat "$st")" != 0 ]; then
		rc=1
		echo "   ($(basename "$b") failed)"
	fi
	grep '^TABLE ' "$out" | cut -c7- >>"$rows"
done
echo
echo "== summary: one run of make bench (ours against in-process, same run)"
awk -F'|' '
	{ n++; for (i = 1; i <= 5; i++) { f[n, i] = $i
		if (length($i) > w[i]) w[i] = length($i) } }
	END {
		h[1] = "id"; h[2] = "what"; h[3] = "median"; h[4] = "ratio"
		h[5] = "target"
		for (i = 1; i <= 5; i++) if (length(h[i]) > w[i]) w[i] = length(h[i])
		fmt = "%-" w[1] "s  %-" w[2] "s  %-" w[3] "s  %-" w[4] "s  %s\n"
		printf fmt, h[1], h[2], h[3], h[4], h[5]
		for (r = 1; r <= n; r++)
			printf fmt, f[r, 1], f[r, 2], f[r, 3], f[r, 4], f[r, 5]
		if (n == 0) print "(no benchmark printed a TABLE line)"
	}' "$rows"
exit $rc
