#!/bin/sh
# SPDX-License-Identifier: ISC
# The systemd units verify cleanly, pointed at the daemon we built.
. tests/lib.sh
cd "$(dirname "$0")/../.." || exit 2
d=$T_TMP/units
mkdir -p "$d"
daemon=$(realpath "$B/cpconnectd")
for u in systemd/cpconnectd.service systemd/cpconnectd.socket; do
	sed "s|/usr/sbin/cpconnectd|$daemon|" "$u" >"$d/$(basename "$u")"
done
out=$(systemd-analyze verify --man=no "$d/cpconnectd.socket" \
	"$d/cpconnectd.service" 2>&1)
check "systemd-analyze verify exits 0" [ $? -eq 0 ]
check "systemd-analyze verify says nothing" [ -z "$out" ] ||
	printf '%s\n' "$out" | sed 's/^/    /'
grep -q '^Type=notify' systemd/cpconnectd.service
check "service is Type=notify" [ $? -eq 0 ]
grep -q '^ListenStream=/run/cpconnect/cpconnect.sock' systemd/cpconnectd.socket
check "socket listens on /run/cpconnect/cpconnect.sock" [ $? -eq 0 ]
out=$(systemd-analyze security --offline=yes "$d/cpconnectd.service" 2>&1 |
	sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
check "systemd-analyze security exposure below 3.0 ($out)" \
	awk -v x="$out" 'BEGIN { exit !(x != "" && x + 0 < 3.0) }'
finish
