#!/bin/sh
# SPDX-License-Identifier: ISC
# symbolize.sh LOG: append to LOG the sanitizer stack frames it holds as
# function and file:line.  A sandboxed engine cannot start a symbolizer,
# so its reports name only "(binary+0xoffset)"; addr2line reads the same
# binary here.  Used on the daemon logs a failing suite keeps
# (tests/itest.c, tests/lib.sh); does nothing without addr2line.
[ $# -eq 1 ] && [ -f "$1" ] || exit 2
command -v addr2line >/dev/null || exit 0
frames=$(grep -E '^ *#[0-9]+ 0x[0-9a-f]+ +\(/[^()]+\+0x[0-9a-f]+\)$' "$1" |
    head -n 200)
[ -n "$frames" ] || exit 0
{
	echo "---- the frames above, symbolized (tests/symbolize.sh) ----"
	printf '%s\n' "$frames" | while IFS= read -r line; do
		n=$(printf '%s' "$line" | sed -E 's/^ *(#[0-9]+).*/\1/')
		bin=$(printf '%s' "$line" | sed -E 's/.*\((\/[^()+]+)\+0x[0-9a-f]+\)$/\1/')
		off=$(printf '%s' "$line" | sed -E 's/.*\+(0x[0-9a-f]+)\)$/\1/')
		case $n in "#0") echo ;; esac
		printf '%s %s\n' "$n" "$(addr2line -f -i -p -e "$bin" "$off" \
		    2>/dev/null | tr '\n' ' ')"
	done
} >>"$1"
