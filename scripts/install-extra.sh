#!/bin/sh
# SPDX-License-Identifier: ISC
# Man pages, systemd units and the example configuration for make install
# (and, with -u, make uninstall).
set -eu
un=0
if [ "${1:-}" = -u ]; then
	un=1
	shift
fi
DESTDIR=$1 MANDIR=$2 UNITDIR=$3 SYSCONFDIR=$4 PREFIX=$5
top=$(cd "$(dirname "$0")/.." && pwd)
man_install() {
	for f in "$top"/man/*.[1-8]; do
		[ -f "$f" ] || continue
		sec=${f##*.}
		d=$DESTDIR$MANDIR/man$sec
		if [ $un = 1 ]; then
			rm -f "$d/$(basename "$f")"
		else
			install -d "$d"
			install -m 644 "$f" "$d/"
		fi
	done
}
units_install() {
	[ -d "$top/systemd" ] || return 0
	for f in "$top"/systemd/*.service "$top"/systemd/*.socket; do
		[ -f "$f" ] || continue
		if [ $un = 1 ]; then
			rm -f "$DESTDIR$UNITDIR/$(basename "$f")"
		else
			install -d "$DESTDIR$UNITDIR"
			sed "s|/usr/sbin/cpconnectd|$PREFIX/sbin/cpconnectd|" "$f" \
				>"$DESTDIR$UNITDIR/$(basename "$f")"
		fi
	done
	for sub in sysusers.d tmpfiles.d modules-load.d; do
		for f in "$top"/systemd/$sub/*.conf; do
			[ -f "$f" ] || continue
			d=$DESTDIR$PREFIX/lib/$sub
			if [ $un = 1 ]; then
				rm -f "$d/$(basename "$f")"
			else
				install -d "$d"
				install -m 644 "$f" "$d/"
			fi
		done
	done
}
conf_install() {
	f=$top/examples/cpconnectd.conf
	[ -f "$f" ] || return 0
	d=$DESTDIR$SYSCONFDIR/cpconnect
	if [ $un = 1 ]; then
		rm -f "$d/cpconnectd.conf.example"
	else
		install -d "$d"
		install -m 644 "$f" "$d/cpconnectd.conf.example"
	fi
}
man_install
units_install
conf_install
