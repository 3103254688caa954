#!/bin/sh
# SPDX-License-Identifier: ISC
# make deb-check: build the Debian packages, check what is in them and what
# lintian says, install them on this machine (root), run the packaged
# daemon and make connections through it with the packaged cpconnect and
# with a program built against libcpconnect-dev alone, then purge them and
# check that nothing is left.  Everything on loopback.
# Prints "deb: N passed, M failed", then "N passed, M failed".
# DEB_REUSE=1 tests the packages of the last make deb instead of building.
cd "$(dirname "$0")/../.." || exit 2
. tests/lib.sh
# As lib.sh's check, but a failed check also returns 1, so that "check ...
# || show ..." shows what went wrong and "check ... || finish_deb" stops.
check() {
	n=$1
	shift
	if "$@"; then ok "$n"; else bad "$n"; return 1; fi
}

OUT=$B/deb
PKGS="cpconnectd libcpconnect0 libcpconnect-dev"
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
LIBDIR=/usr/lib/$MA
T0=$(date +%s)
installed=0
sysd_conf=
DPID=

finish_deb() {
	echo "deb: $T_PASS passed, $T_FAIL failed ($(($(date +%s) - T0))s)"
	echo "$T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ]
	exit $?
}
# Whatever happens, leave the machine as it was: daemon stopped, packages
# purged, our configuration gone.
# shellcheck disable=SC2317
deb_cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null
	if [ -n "$sysd_conf" ]; then
		systemctl stop cpconnectd.socket cpconnectd.service 2>/dev/null
		rm -f "$sysd_conf"
	fi
	if [ "$installed" = 1 ]; then
		echo "deb: purging the packages after an interruption"
		# shellcheck disable=SC2086
		timeout 300 dpkg --purge $PKGS >/dev/null 2>&1
	fi
	cleanup
}
trap deb_cleanup EXIT
trap 'exit 1' INT TERM HUP
# show FILE: indented, at most 30 lines
show() { head -n 30 "$1" | sed 's/^/    /'; }
pkgstatus() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null; }

if [ "$(id -u)" != 0 ]; then
	bad "deb-check installs packages: run it as root (sudo make deb-check)"
	finish_deb
fi
for p in $PKGS; do
	s=$(pkgstatus "$p")
	if [ -n "$s" ] && [ "$s" != not-installed ]; then
		bad "$p is already on this machine ($s): dpkg --purge $PKGS first"
		finish_deb
	fi
done
# What exists before, to compare with what is left after the purge.
# In /run only its top level: systemd keeps per-unit state below
# /run/systemd for a while after a unit stops.
snapshot() {
	{
		find /usr /etc /var/lib/systemd \( -name '*cpconnect*' -o \
		    -path '*/cprops/client.h' \) -print 2>/dev/null
		find /run -maxdepth 1 -name '*cpconnect*' -print
	} | sort
}
snapshot >"$T_TMP/before"
user_before=$(getent passwd cpconnect)

# ---- build ----
t=$(date +%s)
if [ "${DEB_REUSE:-}" = 1 ]; then
	echo "deb: DEB_REUSE=1: the packages in $OUT, not rebuilt"
else
	timeout -k 10 1200 sh scripts/mkdeb.sh "$OUT" >"$T_TMP/mkdeb.out" 2>&1
	check "packages build ($(($(date +%s) - t))s, log $OUT/build.log)" [ $? -eq 0 ] || {
		show "$T_TMP/mkdeb.out"
		finish_deb
	}
fi
D=$(ls "$OUT"/cpconnectd_*.deb 2>/dev/null)
L=$(ls "$OUT"/libcpconnect0_*.deb 2>/dev/null)
V=$(ls "$OUT"/libcpconnect-dev_*.deb 2>/dev/null)
check "three binary packages" test -f "$D" -a -f "$L" -a -f "$V" || finish_deb
check "dpkg-gensymbols: symbols file matches the library" \
	sh -c "! grep -q 'dpkg-gensymbols: warning' '$OUT/build.log'"

# ---- contents ----
list() { dpkg-deb -c "$1" | sed -E 's/^[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +\.//'; }
list "$D" >"$T_TMP/d.list"
list "$L" >"$T_TMP/l.list"
list "$V" >"$T_TMP/v.list"
has() { grep -qx -- "$2" "$T_TMP/$1.list"; }
for f in /usr/sbin/cpconnectd /usr/bin/cpconnect \
    /lib/systemd/system/cpconnectd.service /lib/systemd/system/cpconnectd.socket \
    /usr/lib/sysusers.d/cpconnect.conf /usr/lib/tmpfiles.d/cpconnect.conf \
    /etc/cpconnect/cpconnectd.conf.example; do
	check "cpconnectd ships $f" has d "$f"
done
check "cpconnectd: the example configuration is its only conffile" \
	sh -c "[ \"\$(dpkg-deb -I '$D' conffiles)\" = /etc/cpconnect/cpconnectd.conf.example ]"
check "libcpconnect0 ships $LIBDIR/libcpconnect.so.0" \
	has l "$LIBDIR/libcpconnect.so.0 -> libcpconnect.so.0\..*"
check "libcpconnect0: only the library and its documentation" \
	sh -c "! grep -v -e '^$LIBDIR/libcpconnect\.so\.0' -e '^/usr/share/doc/' \
	    -e '^/usr/lib/\$' -e '^/usr/\$' -e '^/\$' -e '^$LIBDIR/\$' \
	    -e '^/usr/share/\$' -e '^/usr/share/lintian/' '$T_TMP/l.list'"
for f in /usr/include/cprops/client.h "$LIBDIR/libcpconnect.a" \
    "$LIBDIR/libcpconnect.so -> libcpconnect.so.0" "$LIBDIR/pkgconfig/cpconnect.pc" \
    /usr/share/doc/libcpconnect-dev/examples/tcp_echo.c; do
	check "libcpconnect-dev ships $f" has v "$f"
done
# Every page of man/ in its package; a page that is only ".so other" is a
# symlink there, not a stub.
nman=0 mok=0
for f in man/*.[1-8]; do
	nman=$((nman + 1))
	b=$(basename "$f")
	case $b in *.3) l=v ;; *) l=d ;; esac
	p=/usr/share/man/man${b##*.}/$b.gz
	if head -n 1 "$f" | grep -q '^\.so '; then
		to=$(head -n 1 "$f" | sed 's|^\.so *man[0-9]/||')
		has $l "$p -> $to.gz" && mok=$((mok + 1))
	else
		has $l "$p" && mok=$((mok + 1))
	fi
done
check "all $nman man pages in their package, .so pages as symlinks ($mok)" \
	[ "$mok" -eq "$nman" ]
check "cpconnectd: man pages of sections 1, 5, 7, 8 only" \
	sh -c "! grep '^/usr/share/man/man[^1578]' '$T_TMP/d.list'"
dpkg-deb -x "$L" "$T_TMP/lib"
nm -D --defined-only "$T_TMP/lib$LIBDIR/libcpconnect.so.0" |
	awk '$2 != "A" { print $3 }' >"$T_TMP/exported@"
check "every exported symbol has the version CPCONNECT_0 (lib/libcpconnect.map)" \
	sh -c "! grep -v '@@CPCONNECT_0\$' '$T_TMP/exported@'"
sed 's/@.*//' "$T_TMP/exported@" | sort >"$T_TMP/exported"
dpkg-deb -I "$L" symbols | sed -n 's/^ \([^@]*\)@.*/\1/p' | grep -v '^CPCONNECT_' |
	sort >"$T_TMP/symbols"
check "symbols file lists exactly the $(wc -l <"$T_TMP/exported") exported symbols" \
	cmp -s "$T_TMP/exported" "$T_TMP/symbols"
miss=$(while read -r s; do has v "/usr/share/man/man3/$s.3.gz" ||
	has v "/usr/share/man/man3/$s.3.gz -> "'.*' || echo "$s"; done <"$T_TMP/exported")
check "every exported function has a page in libcpconnect-dev" [ -z "$miss" ] ||
	echo "    no page: $miss"
check "postinst creates the user and the runtime directory" \
	sh -c "dpkg-deb -I '$D' postinst | grep -q 'systemd-sysusers.* cpconnect.conf' &&
	    dpkg-deb -I '$D' postinst | grep -q 'systemd-tmpfiles.* --create cpconnect.conf'"

# ---- lintian ----
t=$(date +%s)
timeout 600 lintian "$OUT"/cpconnect_*.dsc "$OUT"/cpconnect_*_"$(dpkg --print-architecture)".changes \
	>"$T_TMP/lintian" 2>"$T_TMP/lintian.err"
rc=$?
check "lintian: no errors (exit $rc, $(($(date +%s) - t))s)" \
	sh -c "[ $rc -eq 0 ] && ! grep -q '^E:' '$T_TMP/lintian'" || show "$T_TMP/lintian"
check "lintian: no warnings" sh -c "! grep -q '^W:' '$T_TMP/lintian'" ||
	grep '^W:' "$T_TMP/lintian" | sed 's/^/    /'

# ---- install ----
installed=1
timeout 300 dpkg -i "$D" "$L" "$V" >"$T_TMP/dpkg.out" 2>&1 ||
	DEBIAN_FRONTEND=noninteractive timeout 600 apt-get -f install -y -q \
	    >>"$T_TMP/dpkg.out" 2>&1
ok_all=1
for p in $PKGS; do
	[ "$(pkgstatus "$p")" = installed ] || ok_all=0
done
check "dpkg -i installs the three packages" [ $ok_all = 1 ] || {
	show "$T_TMP/dpkg.out"
	finish_deb
}
pw=$(getent passwd cpconnect)
uid=$(echo "$pw" | cut -d: -f3)
if [ -n "$user_before" ]; then
	# It existed already: show that the packaged file creates it.
	mkdir -p "$T_TMP/root/etc"
	: >"$T_TMP/root/etc/passwd"
	: >"$T_TMP/root/etc/group"
	systemd-sysusers --root="$T_TMP/root" /usr/lib/sysusers.d/cpconnect.conf \
		>/dev/null 2>&1
	check "user cpconnect (existed before; the packaged sysusers file creates it)" \
		grep -q '^cpconnect:' "$T_TMP/root/etc/passwd"
else
	check "user cpconnect created" [ -n "$pw" ]
fi
check "cpconnect is a system user ($uid) without a login shell" \
	sh -c "[ -n '$uid' ] && [ '$uid' -gt 0 ] && [ '$uid' -lt 1000 ] &&
	    echo '$pw' | grep -q ':/usr/sbin/nologin\$'"
check "/run/cpconnect created (tmpfiles)" [ -d /run/cpconnect ]
check "cpconnectd.socket enabled" [ -L /etc/systemd/system/sockets.target.wants/cpconnectd.socket ]
check "cpconnectd.service not enabled (socket activation)" \
	[ ! -e /etc/systemd/system/multi-user.target.wants/cpconnectd.service ]
check "the example configuration is a registered conffile" sh -c \
	"dpkg-query -W -f='\${Conffiles}' cpconnectd | grep -q '/etc/cpconnect/cpconnectd.conf.example '"
check "man page alias resolves" [ -f "$(readlink -f /usr/share/man/man3/cp_client_destroy.3.gz)" ]
check "pkg-config: libdir is $LIBDIR" [ "$(pkg-config --variable=libdir cpconnect)" = "$LIBDIR" ]
check "pkg-config: version $(sed -n 's/^VERSION *= *//p' Makefile)" \
	[ "$(pkg-config --modversion cpconnect)" = "$(sed -n 's/^VERSION *= *//p' Makefile)" ]
# An upgrade runs the other half of the maintainer scripts.
timeout 300 dpkg -i "$D" >"$T_TMP/dpkg2.out" 2>&1
check "reinstalling cpconnectd (the upgrade path) succeeds" [ $? -eq 0 ] ||
	show "$T_TMP/dpkg2.out"
check "cpconnectd.socket still enabled after it" \
	[ -L /etc/systemd/system/sockets.target.wants/cpconnectd.socket ]

# ---- the packaged daemon ----
check "echo server on loopback" t_echo_server "$T_TMP/echo.log"
PE=$T_PORT
CONF="allow from any to 127.0.0.1 port $PE tcp
"
check "cpconnectd -n accepts the test configuration" sh -c \
	"printf '%s' '$CONF' >'$T_TMP/n.conf' &&
	    /usr/sbin/cpconnectd -n -f '$T_TMP/n.conf' 2>&1 | grep -q 'configuration OK'"
if [ -d /run/systemd/system ]; then
	# systemd is running: the packaged units, as installed.
	SOCK=/run/cpconnect/cpconnect.sock
	sysd_conf=/etc/cpconnect/cpconnectd.conf
	printf '%s' "$CONF" >"$sysd_conf"
	systemctl start cpconnectd.socket
	check "cpconnectd.socket active" systemctl -q is-active cpconnectd.socket
	check "cpconnectd.service not running before a client" \
		sh -c '! systemctl -q is-active cpconnectd.service'
	mode=systemd
else
	# No systemd (a container's CI): the packaged daemon by hand, in the
	# foreground, as root: its engines drop to the packaged user.
	SOCK=$T_TMP/d.sock
	printf '%s' "$CONF" >"$T_TMP/d.conf"
	/usr/sbin/cpconnectd -d -f "$T_TMP/d.conf" -s "$SOCK" >"$T_TMP/d.log" 2>&1 &
	DPID=$!
	check "/usr/sbin/cpconnectd -d started" wait_for test -S "$SOCK" ||
		show "$T_TMP/d.log"
	mode=direct
	check "its engines run as user cpconnect" wait_for sh -c \
		"ps -o euid= --ppid $DPID | grep -qx ' *$uid'"
fi
# Clients in a network namespace of their own, without an interface up,
# when the kernel allows it: the daemon makes the connection.  $NS is left
# unquoted on purpose below.
NS=
unshare -n true 2>/dev/null && NS="unshare -n"
echo "deb: daemon: $mode on $SOCK; clients ${NS:-with the network}"
# shellcheck disable=SC2086
printf 'through the package\n' |
	timeout 20 $NS /usr/bin/cpconnect -S "$SOCK" 127.0.0.1 "$PE" \
	    >"$T_TMP/cli.out" 2>"$T_TMP/cli.err"
check "packaged cpconnect: a connection through the daemon ($mode)" \
	[ "$(cat "$T_TMP/cli.out")" = "through the package" ] || show "$T_TMP/cli.err"
[ $mode = systemd ] &&
	check "cpconnectd.service started by the socket" systemctl -q is-active cpconnectd.service
t_port
[ "$T_PORT" = "$PE" ] && T_PORT=$((PE + 1))
# shellcheck disable=SC2086
timeout 20 $NS /usr/bin/cpconnect -S "$SOCK" 127.0.0.1 "$T_PORT" </dev/null \
	>/dev/null 2>"$T_TMP/deny.err"
rc=$?
check "the daemon's policy applies (another port denied, exit $rc)" \
	sh -c "[ $rc -ne 0 ] && grep -qi denied '$T_TMP/deny.err'" || show "$T_TMP/deny.err"

# ---- a program built against libcpconnect-dev ----
flags=$(pkg-config --cflags --libs cpconnect)
# shellcheck disable=SC2086
cc -o "$T_TMP/tcp_echo" examples/tcp_echo.c $flags >"$T_TMP/cc.log" 2>&1
check "tcp_echo builds with pkg-config's flags alone ($flags)" [ $? -eq 0 ] ||
	show "$T_TMP/cc.log"
# With a merged /usr, the loader may name it /lib/$MA/...: the same file.
so=$(ldd "$T_TMP/tcp_echo" | sed -n 's/.*libcpconnect\.so\.0 => \([^ ]*\) .*/\1/p')
check "tcp_echo uses the packaged library ($so)" \
	test -n "$so" -a "$(readlink -f "$so")" = "$(readlink -f "$LIBDIR/libcpconnect.so.0")"
# shellcheck disable=SC2086
CPCONNECT_SOCKET=$SOCK timeout 20 $NS "$T_TMP/tcp_echo" 127.0.0.1 "$PE" packaged \
	>"$T_TMP/echo.out" 2>"$T_TMP/echo.err"
check "tcp_echo: a connection through the daemon" grep -qx packaged "$T_TMP/echo.out" ||
	show "$T_TMP/echo.err"
# shellcheck disable=SC2046
cc -o "$T_TMP/tcp_echo_static" examples/tcp_echo.c $(pkg-config --cflags cpconnect) \
	-Wl,-Bstatic -lcpconnect -Wl,-Bdynamic $(pkg-config --libs libssl libcrypto) \
	>"$T_TMP/cc2.log" 2>&1
# shellcheck disable=SC2086
CPCONNECT_SOCKET=$SOCK timeout 20 $NS "$T_TMP/tcp_echo_static" 127.0.0.1 "$PE" static \
	>"$T_TMP/echo2.out" 2>&1
check "tcp_echo linked with libcpconnect.a works too" grep -qx static "$T_TMP/echo2.out" ||
	show "$T_TMP/cc2.log"
check "the shipped example is the source's" \
	cmp -s examples/tcp_echo.c /usr/share/doc/libcpconnect-dev/examples/tcp_echo.c

# ---- purge ----
if [ $mode = systemd ]; then
	rm -f "$sysd_conf"
	sysd_conf=
else
	kill "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	DPID=
	# lib.sh's test for a sanitizer report or an engine crash.
	if t_log_alarms "$T_TMP/d.log" >"$T_TMP/alarms"; then
		bad "packaged daemon's log: no engine crash"
		show "$T_TMP/alarms"
	else
		ok "packaged daemon's log: no engine crash"
	fi
fi
# shellcheck disable=SC2086
dpkg -L $PKGS 2>/dev/null | sort -u >"$T_TMP/files"
# shellcheck disable=SC2086
timeout 300 dpkg --purge $PKGS >"$T_TMP/purge.out" 2>&1
check "dpkg --purge succeeds" [ $? -eq 0 ] || show "$T_TMP/purge.out"
gone=1
for p in $PKGS; do
	s=$(pkgstatus "$p")
	[ -z "$s" ] || [ "$s" = not-installed ] || gone=0
done
check "no trace in dpkg's database" [ $gone = 1 ] && installed=0
# Directories stay when other packages use them (or are /usr's own
# symlinks, such as /lib on a merged /usr).
left=$(while read -r f; do
	[ -d "$f" ] && continue
	{ [ -e "$f" ] || [ -L "$f" ]; } && echo "$f"
done <"$T_TMP/files")
check "every file of the packages removed ($(wc -l <"$T_TMP/files") paths)" [ -z "$left" ] ||
	echo "$left" | sed 's/^/    left: /'
check "/etc/cpconnect removed" [ ! -e /etc/cpconnect ]
check "unit files removed" test ! -e /lib/systemd/system/cpconnectd.service \
	-a ! -e /lib/systemd/system/cpconnectd.socket
check "unit links and deb-systemd-helper state removed" sh -c \
	"! ls /etc/systemd/system/*/cpconnectd.* /var/lib/systemd/deb-systemd-helper-enabled/cpconnectd.* \
	    /var/lib/systemd/deb-systemd-helper-enabled/*/cpconnectd.* 2>/dev/null | grep -q ."
grep -qx /run/cpconnect "$T_TMP/before" ||
	check "/run/cpconnect removed" [ ! -e /run/cpconnect ]
snapshot >"$T_TMP/after"
check "nothing with cpconnect in its name left in /usr, /etc, /var/lib/systemd, /run" \
	cmp -s "$T_TMP/before" "$T_TMP/after" ||
	diff "$T_TMP/before" "$T_TMP/after" | sed -n 's/^> /    left: /p'
check "user cpconnect kept (system users stay after a purge)" getent passwd cpconnect >/dev/null
finish_deb
