#!/bin/sh
# SPDX-License-Identifier: ISC
# make run: the daemon in the foreground with the built-in default policy,
# on a socket in a user directory.
set -eu
B=${1:-build}
dir=${XDG_RUNTIME_DIR:-}
if [ -z "$dir" ] || [ ! -w "$dir" ]; then
	dir=$(pwd)/run
fi
mkdir -p "$dir"
sock=$dir/cpconnect.sock
args="-d -s $sock"
if [ "$(id -u)" = 0 ]; then
	# As root the engines drop to the system user of the packaged service.
	if ! getent passwd cpconnect >/dev/null; then
		# sysusers takes a relative argument for a name to look up.
		systemd-sysusers "$(pwd)/systemd/sysusers.d/cpconnect.conf" \
			2>/dev/null ||
			useradd --system --no-create-home \
				--shell /usr/sbin/nologin cpconnect
	fi
fi
cat <<MSG
cpconnectd: starting in the foreground on $sock (Ctrl-C stops it)
Use it from another terminal:
    export CPCONNECT_SOCKET=$sock
    $B/cpconnect example.org 80 </dev/null
    $B/cpconnect --tls --info example.org 443 </dev/null
Policy: the built-in default (public destinations for everyone;
loopback only for your own user when the daemon is not run as root).
MSG
exec "$B/cpconnectd" $args
