#!/bin/sh
# SPDX-License-Identifier: ISC
# make install into a staging directory: the files land where they belong,
# the library has its soname, a program builds against the installed tree
# with pkg-config alone and links the installed library; make uninstall
# removes everything again.
cd "$(dirname "$0")/../.." || exit 2
. tests/lib.sh

D=$T_TMP/root
U=$D/usr
make -s B="$B" SAN="${SAN:-}" install DESTDIR="$D" PREFIX=/usr >"$T_TMP/install.log" 2>&1
check "make install exits 0" [ $? -eq 0 ] || sed 's/^/    /' "$T_TMP/install.log"

check "sbin/cpconnectd executable" [ -x "$U/sbin/cpconnectd" ]
check "bin/cpconnect executable" [ -x "$U/bin/cpconnect" ]
check "sbin/cpconnectctl executable" [ -x "$U/sbin/cpconnectctl" ]
check "cpconnectctl bash completion" \
    [ -f "$U/share/bash-completion/completions/cpconnectctl" ]
check "cpconnectctl.8 installed" [ -f "$U/share/man/man8/cpconnectctl.8" ]
check "bin/cpconnect-run executable" [ -x "$U/bin/cpconnect-run" ]
check "lib/cpconnect/libcpconnect-preload.so present" [ -f "$U/lib/cpconnect/libcpconnect-preload.so" ]
"$U/bin/cpconnect-run" -S "$T_TMP/none.sock" true 2>"$T_TMP/run-pl.err"
check "installed cpconnect-run finds the preload in ../lib (then: daemon unreachable, 3)" \
    [ $? -eq 3 ] || sed 's/^/    /' "$T_TMP/run-pl.err"
check "lib/libcpconnect.so.0 present" [ -e "$U/lib/libcpconnect.so.0" ]
check "lib/libcpconnect.so development link" [ -L "$U/lib/libcpconnect.so" ]
check "lib/libcpconnect.a present" [ -f "$U/lib/libcpconnect.a" ]
# Only the public API is visible, in the archive as in the shared object:
# internal names (imsg_*, tls_rec_*) would collide with a program's own.
check "libcpconnect.a exports only the public API" \
	sh -c "[ -z \"\$(nm -g --defined-only '$U/lib/libcpconnect.a' | awk 'NF >= 3 { print \$3 }' | grep -Ev '^(cp_client_[a-z_]+|ssl_verification_error_str|ssl_err_inf)\$')\" ]"
check "no test hooks in the installed daemon" \
	sh -c "! grep -q 'test hook' '$U/sbin/cpconnectd'"
check "no test hooks in the installed library" \
	sh -c "! nm '$U/lib/libcpconnect.a' | grep -q 'tls_rec_send_raw\|tls_rec_set_rekey_limit'"
# Every function the test build of a file has beyond its production
# build is a test hook (Makefile: HOOK_SRC); none may be in what is
# installed, under any name binding.
# (Global ones only: a static helper may be inlined in one build only.)
fnames() { nm --defined-only "$@" 2>/dev/null | awk -v b="$BIND" '$2 ~ b { print $3 }' | sort -u; }
BIND='^T$'
fnames $(find "$B/obj/hooks" -name '*.o') >"$T_TMP/hook.fns"
fnames $(find "$B/obj/hooks" -name '*.o' | sed "s|^$B/obj/hooks/|$B/obj/|") >"$T_TMP/prod.fns"
BIND='^[Tt]$'
comm -13 "$T_TMP/prod.fns" "$T_TMP/hook.fns" >"$T_TMP/hooks"
check "the test build has hooks to look for ($(wc -l <"$T_TMP/hooks"))" \
    [ "$(wc -l <"$T_TMP/hooks")" -ge 10 ]
fnames "$U/sbin/cpconnectd" "$U/lib/libcpconnect.a" "$U/lib/libcpconnect.so.0" \
    "$U/lib/cpconnect/libcpconnect-preload.so" >"$T_TMP/installed.fns"
check "none of them in the installed daemon or libraries" \
    sh -c "[ -z \"\$(comm -12 '$T_TMP/hooks' '$T_TMP/installed.fns')\" ]" ||
    comm -12 "$T_TMP/hooks" "$T_TMP/installed.fns" | sed 's/^/    /'
check "libcpconnect.so exports only the public API" \
	sh -c "[ -z \"\$(nm -D -g --defined-only '$U/lib/libcpconnect.so.0' | awk 'NF >= 3 { print \$3 }' | sed 's/@.*//' | grep -Ev '^(cp_client_[a-z_]+|ssl_verification_error_str|ssl_err_inf|CPCONNECT_0)\$')\" ]"
check "soname is libcpconnect.so.0" sh -c "readelf -d '$U/lib/libcpconnect.so.0' |
    grep -q 'SONAME.*\[libcpconnect.so.0\]'"
check "include/cprops/client.h identical to the source" \
    cmp -s lib/include/cprops/client.h "$U/include/cprops/client.h"
check "lib/pkgconfig/cpconnect.pc present" [ -f "$U/lib/pkgconfig/cpconnect.pc" ]
check "cpconnect.pc has prefix=/usr" grep -qx 'prefix=/usr' "$U/lib/pkgconfig/cpconnect.pc"
for p in man1/cpconnect.1 man3/cp_client_connect.3 man3/cp_client_create.3 \
    man3/cp_client_destroy.3 man5/cpconnectd.conf.5 man7/cpconnect.7 \
    man8/cpconnectd.8; do
	check "man page $p installed" [ -f "$U/share/man/$p" ]
done
n=$(ls man/*.[1-8] | wc -l)
m=$(find "$U/share/man" -type f | wc -l)
check "all $n man pages installed ($m)" [ "$n" -eq "$m" ]
for u in cpconnectd.service cpconnectd.socket; do
	check "unit $u installed" [ -f "$U/lib/systemd/system/$u" ]
done
check "service runs /usr/sbin/cpconnectd" \
    grep -q '^ExecStart=/usr/sbin/cpconnectd' "$U/lib/systemd/system/cpconnectd.service"
for f in sysusers.d tmpfiles.d modules-load.d; do
	check "$f/cpconnect.conf installed" [ -f "$U/lib/$f/cpconnect.conf" ]
done
check "example configuration installed" \
    [ -f "$D/etc/cpconnect/cpconnectd.conf.example" ]

# Build against the installed tree with pkg-config only.  The staging
# directory comes first; the system's own .pc directories follow because
# cpconnect.pc requires libssl and libcrypto, which are not ours to install
# (with the staging directory alone pkg-config fails on that requirement).
SYSPC=$(pkg-config --variable pc_path pkg-config)
PC="env PKG_CONFIG_SYSROOT_DIR=$D PKG_CONFIG_LIBDIR=$U/lib/pkgconfig:$SYSPC pkg-config"
flags=$($PC --cflags --libs cpconnect 2>"$T_TMP/pc.err")
check "pkg-config knows cpconnect" [ $? -eq 0 ] || sed 's/^/    /' "$T_TMP/pc.err"
check "pkg-config flags point into the staging tree" \
    sh -c "echo '$flags' | grep -q -- '-I$U/include ' &&
    echo '$flags' | grep -q -- '-L$U/lib ' && echo '$flags' | grep -q -- -lcpconnect"
# shellcheck disable=SC2086
cc -o "$T_TMP/tcp_echo" examples/tcp_echo.c $flags >"$T_TMP/cc.log" 2>&1
check "tcp_echo builds with the pkg-config flags alone" [ $? -eq 0 ] ||
    sed 's/^/    /' "$T_TMP/cc.log"
# https_get calls OpenSSL itself on the certificate the API returns, as
# cprops programs do: the flags must bring libcrypto (client.h exposes
# OpenSSL types, so libssl and libcrypto belong in Requires, not
# Requires.private).
# shellcheck disable=SC2086
cc -o "$T_TMP/https_get" examples/https_get.c $flags >"$T_TMP/cc2.log" 2>&1
check "https_get builds with the pkg-config flags alone" [ $? -eq 0 ] ||
    sed 's/^/    /' "$T_TMP/cc2.log"
check "tcp_echo NEEDs libcpconnect.so.0" sh -c "readelf -d '$T_TMP/tcp_echo' |
    grep -q 'NEEDED.*\[libcpconnect.so.0\]'"
check "tcp_echo resolves libcpconnect in the staging tree" sh -c \
    "LD_LIBRARY_PATH='$U/lib' ldd '$T_TMP/tcp_echo' | grep -q 'libcpconnect.so.0 => $U/lib/'"
# A sanitizer build of the library needs its runtime loaded first; the
# program itself is built with the pkg-config flags alone.
pre=
if [ -n "${SAN:-}" ]; then
	pre="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
fi
LD_PRELOAD=$pre LD_LIBRARY_PATH=$U/lib CPCONNECT_SOCKET=$T_TMP/none.sock \
    "$T_TMP/tcp_echo" 127.0.0.1 7 >/dev/null 2>"$T_TMP/run.err"
check "tcp_echo runs on the installed library (fails closed: exit 1)" [ $? -eq 1 ]
check "tcp_echo says the daemon is not reachable" \
    grep -q 'cpconnectd not reachable' "$T_TMP/run.err"

make -s B="$B" SAN="${SAN:-}" uninstall DESTDIR="$D" PREFIX=/usr >"$T_TMP/uninstall.log" 2>&1
check "make uninstall exits 0" [ $? -eq 0 ]
left=$(find "$D" -type f -o -type l | sed "s|^$D||")
check "make uninstall leaves no file behind" [ -z "$left" ] ||
    echo "$left" | sed 's/^/    left: /'
finish
