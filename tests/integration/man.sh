#!/bin/sh
# SPDX-License-Identifier: ISC
# Manual pages: mandoc -Tlint -Wstyle is silent on every page, every public
# function of client.h (and every symbol the library exports) has a page or
# a .so link, .so links point at pages that exist and list the link's name,
# and every SYNOPSIS documents functions that exist.
cd "$(dirname "$0")/../.." || exit 2
. tests/lib.sh

HDR=lib/include/cprops/client.h
M=$T_TMP/man
# Our own page names; an Xr to anything else may legitimately be missing
# from this machine (OpenSSL, systemd and libc pages).
OURS='^(cp_client_[a-z_]+|ssl_verification_error_str|ssl_err_inf|cpconnect|cpconnectctl|cpconnectd|cpconnectd\.conf)$'

command -v mandoc >/dev/null || { bad "mandoc is not installed"; finish; }

# A man tree so that .so and Xr between our pages resolve.
for f in man/*.[1-8]; do
	s=${f##*.}
	mkdir -p "$M/man$s"
	cp "$f" "$M/man$s/"
done

# A database, so that mandoc finds our pages without complaining that one
# is missing; the Xr check falls back to the file system without it.
makewhatis "$M" >/dev/null 2>&1 || true

is_link() { [ "$(wc -l <"$1")" -eq 1 ] && grep -q '^\.so ' "$1"; }

# Names in the NAME section of a page.
nm_names() { awk '/^\.Sh NAME/{f=1;next} /^\.Sh/{f=0} f&&/^\.Nm /{print $2}' "$1"; }

pages=0
for f in man/*.[1-8]; do
	b=$(basename "$f")
	s=${b##*.}
	n=${b%.*}
	if is_link "$f"; then
		t=$(sed -n 's/^\.so //p' "$f")
		if [ ! -f "man/${t#man*/}" ] || [ "${t%%/*}" != "man$s" ]; then
			bad "$b: .so target $t missing or in another section"
			continue
		fi
		if nm_names "man/${t#man*/}" | grep -qx "$n"; then
			ok "$b: .so $t lists $n"
		else
			bad "$b: .so $t does not list $n in NAME"
		fi
		continue
	fi
	pages=$((pages + 1))
	out=$(cd "$M" && MANPATH=$M mandoc -Tlint -Wstyle "man$s/$b" 2>&1)
	msgs=$(printf '%s\n' "$out" | while IFS= read -r l; do
		[ -n "$l" ] || continue
		# Found by file system search after all: not a problem.
		case $l in *"outdated mandoc.db lacks"*) continue ;; esac
		x=$(printf '%s\n' "$l" |
		    sed -n 's/.*referenced manual not found: Xr \([^ ]*\) .*/\1/p')
		if [ -n "$x" ] && ! printf '%s\n' "$x" | grep -Eq "$OURS"; then
			continue
		fi
		printf '%s\n' "$l"
	done)
	if [ -z "$msgs" ]; then
		ok "$b: mandoc -Tlint -Wstyle clean"
	else
		bad "$b: mandoc -Tlint -Wstyle:"
		printf '%s\n' "$msgs" | sed 's/^/    /'
	fi
	# Every page name it documents has a file.
	for x in $(nm_names "$f"); do
		[ -f "man/$x.$s" ] || bad "$b: NAME lists $x but man/$x.$s is missing"
	done
	# SYNOPSIS of section 3 pages: only functions the header declares.
	if [ "$s" = 3 ]; then
		for fn in $(awk '/^\.Sh SYNOPSIS/{f=1;next} /^\.Sh/{f=0}
		    f&&/^\.(Fn|Fo) /{print $2}' "$f"); do
			grep -Eq "[ *]$fn\(" "$HDR" ||
			    bad "$b: SYNOPSIS has $fn, not in $HDR"
		done
	fi
done
check "some full pages found ($pages)" [ "$pages" -ge 13 ]
for p in cpconnect.1 cpconnectd.conf.5 cpconnect.7 cpconnectd.8; do
	check "page $p exists" [ -f "man/$p" ]
done

# Functions declared in the header: comments removed, then every name
# directly followed by '(' that is not a macro or a keyword.
funcs=$(awk '
	{ line = $0
	  out = ""
	  while (length(line) > 0) {
		if (inc) {
			i = index(line, "*/")
			if (i == 0) { line = ""; break }
			line = substr(line, i + 2); inc = 0
		} else {
			i = index(line, "/*")
			if (i == 0) { out = out line; line = ""; break }
			out = out substr(line, 1, i - 1) " "
			line = substr(line, i + 2); inc = 1
		}
	  }
	  print out }' "$HDR" | grep -v '^#' |
    grep -oE '[A-Za-z_][A-Za-z0-9_]*[[:space:]]*\(' | tr -d '( \t' |
    grep -Ev '^([A-Z0-9_]+|if|sizeof|__attribute__)$' | sort -u)
nf=0
for fn in $funcs; do
	nf=$((nf + 1))
	check "client.h $fn has a page" [ -f "man/$fn.3" ]
done
check "client.h declares functions ($nf)" [ "$nf" -ge 30 ]

# Symbols the shared library exports, when it is built.
so=$B/libcpconnect.so.0
if [ -f "$so" ] && command -v nm >/dev/null; then
	for fn in $(nm -D --defined-only "$so" | awk '$2 == "T" {print $3}' |
	    sed 's/@.*//' | sort -u); do
		check "exported $fn has a page" [ -f "man/$fn.3" ]
	done
fi

# The checker itself must catch a broken page.
mkdir -p "$T_TMP/neg/man3"
printf '.Dd November 24, 2026\n.Dt X 3\n.Os\n.Sh NAME\n.Nm x\n.Nd y\n.Sh DESCRIPTION\nOne.  Two.\n' \
    >"$T_TMP/neg/man3/x.3"
check "mandoc reports a bad page" \
    sh -c "cd '$T_TMP/neg' && [ -n \"\$(mandoc -Tlint -Wstyle man3/x.3 2>&1)\" ]"
finish
