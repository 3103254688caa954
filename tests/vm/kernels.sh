#!/bin/sh
# SPDX-License-Identifier: ISC
# kernels.sh DIR: fetch and unpack the two kernels of the VM suite into DIR.
#
#   old  Debian 12's linux-image-6.12.*-cloud-amd64 (bookworm-security):
#        kernel TLS, but no TLS 1.3 re-keying (a second TLS_RX is EBUSY)
#   new  a newer Debian kernel that can re-key (Linux >= 6.14), from
#        trixie-backports, else sid
#
# apt-get works on a private directory (DIR/apt) whose sources are derived
# from the machine's own /etc/apt/sources.list.d/*.sources: the security
# paragraph as it is, the main one with its suite names replaced, so no
# repository address is written anywhere.  The system's apt state is not
# touched.  Everything is cached: with DIR/old and DIR/new unpacked, no
# network is used at all.
#
# Prints, for each kernel: "KERNEL old|new RELEASE VMLINUZ MODULEDIR".
# Exits 1 with a message on stderr when a kernel cannot be had.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
DIR=$1
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
APT=$DIR/apt
NEWER_SUITES="trixie-backports sid"

say() { echo "kernels: $*" >&2; }

# The private apt options, for one sources directory.
aptopts() {
	echo "-o Dir::Etc::sourceparts=$1 -o Dir::Etc::sourcelist=/dev/null" \
	    "-o Dir::State::Lists=$1/lists -o Dir::Cache=$1/cache" \
	    "-o Dir::Cache::archives=$1/cache/archives" \
	    "-o APT::Sandbox::User=root -o Debug::NoLocking=1" \
	    "-o Acquire::Languages=none -o Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false"
}

# sources KIND SUITE OUT: deb822 paragraphs of the machine's sources:
# KIND=security keeps the *-security paragraphs as they are; KIND=main
# takes the paragraphs of the release itself and names SUITE instead.
sources() {
	_src=$(ls /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	[ -n "$_src" ] || { say "no /etc/apt/sources.list.d/*.sources"; return 1; }
	# shellcheck disable=SC2086
	cat $_src | awk -v kind="$1" -v suite="$2" '
		BEGIN { RS = ""; ORS = "\n\n" }
		{
			sec = ($0 ~ /\nSuites:[^\n]*-security/)
			if (kind == "security" && sec) { print; next }
			if (kind == "main" && !sec && $0 ~ /(^|\n)Types:[^\n]*deb( |\n|$)/) {
				gsub(/\nSuites:[^\n]*/, "\nSuites: " suite)
				print
			}
		}' >"$3"
	[ -s "$3" ]
}

# prepare NAME KIND SUITE: a private apt directory, updated.
prepare() {
	_d=$APT/$1
	rm -rf "$_d"
	mkdir -p "$_d/lists/partial" "$_d/cache/archives/partial"
	sources "$2" "$3" "$_d/$1.sources" || {
		say "no $2 paragraph in the machine's sources for $3"
		return 1
	}
	# shellcheck disable=SC2046
	apt-get $(aptopts "$_d") -q update >"$_d/update.log" 2>&1 || {
		say "apt-get update ($3) failed:"
		tail -n 5 "$_d/update.log" >&2
		return 1
	}
}

# field PKG FIELD (in apt directory $_d): the highest version's value.
field() {
	# shellcheck disable=SC2046
	apt-cache $(aptopts "$_d") show "$1" 2>/dev/null |
	    awk -v f="$2:" '$1 == f { sub(/^[^:]*: */, ""); print; exit }'
}

# kernel_pkgs META: the packages that make up the kernel META depends on
# (image, and where split, binary and modules).
kernel_pkgs() {
	_top=$1 _todo=$1 _seen=
	while [ -n "$_todo" ]; do
		set -- $_todo
		_p=$1
		shift
		_todo=$*
		case " $_seen " in *" $_p "*) continue ;; esac
		_seen="$_seen $_p"
		for _dep in $(field "$_p" Depends | tr ',|' '\n\n' |
		    sed 's/(.*//; s/ //g' |
		    grep -E '^linux-(image|binary|modules)-[0-9]' || true); do
			_todo="$_todo $_dep"
		done
	done
	echo "$_seen" | tr ' ' '\n' | grep -vx "$_top" |
	    grep -E '^linux-(image|binary|modules)-[0-9]' || true
}

# fetch NAME PKGS...: download and unpack into DIR/NAME.
fetch() {
	_name=$1
	shift
	_dl=$APT/$_name/debs
	mkdir -p "$_dl"
	# shellcheck disable=SC2046
	(cd "$_dl" && apt-get $(aptopts "$_d") -q download "$@") \
	    >"$APT/$_name/download.log" 2>&1 || {
		say "apt-get download $* failed:"
		tail -n 5 "$APT/$_name/download.log" >&2
		return 1
	}
	rm -rf "$DIR/$_name.tmp"
	mkdir -p "$DIR/$_name.tmp"
	for _f in "$_dl"/*.deb; do
		dpkg -x "$_f" "$DIR/$_name.tmp"
	done
	rm -rf "$DIR/$_name" "$_dl"
	mv "$DIR/$_name.tmp" "$DIR/$_name"
}

release_ge_614() {
	echo "$1" | awk -F. '{ exit !($1 > 6 || ($1 == 6 && $2 >= 14)) }'
}

get_old() {
	prepare old security bookworm-security || return 1
	_meta=linux-image-6.12-cloud-amd64
	_pkgs=$(kernel_pkgs "$_meta")
	[ -n "$_pkgs" ] || { say "no $_meta in bookworm-security"; return 1; }
	say "old kernel: $_pkgs"
	# shellcheck disable=SC2086
	fetch old $_pkgs
}

get_new() {
	for _s in $NEWER_SUITES; do
		prepare new main "$_s" || continue
		_pkgs=$(kernel_pkgs linux-image-cloud-amd64)
		_rel=$(echo "$_pkgs" | sed -n 's/^linux-image-\([0-9][^ ]*\)$/\1/p' | head -n 1)
		if [ -n "$_rel" ] && release_ge_614 "$_rel"; then
			say "new kernel ($_s): $_pkgs"
			# shellcheck disable=SC2086
			fetch new $_pkgs && return 0
		fi
		say "no kernel >= 6.14 in $_s"
	done
	return 1
}

# show NAME: the KERNEL line for an unpacked kernel.
show() {
	_vm=$(find "$DIR/$1" -name 'vmlinuz*' -type f | head -n 1)
	_md=$(find "$DIR/$1" -path '*/modules/*' -name 'tls.ko*' | head -n 1)
	[ -n "$_vm" ] && [ -n "$_md" ] || return 1
	_md=${_md%%/kernel/*}
	echo "KERNEL $1 $(basename "$_md") $_vm $_md"
}

rc=0
show old >/dev/null 2>&1 || get_old || { say "cannot fetch the old kernel"; rc=1; }
show new >/dev/null 2>&1 || get_new || {
	say "cannot fetch a kernel that can re-key (Linux >= 6.14) from any of: $NEWER_SUITES"
	rc=1
}
show old || true
show new || true
exit $rc
