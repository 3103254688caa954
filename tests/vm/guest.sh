#!/bin/sh
# SPDX-License-Identifier: ISC
# guest.sh old|new: the VM suite's tests, run by /init inside the VM.
#
# The daemon runs as in production (started as root, engines as nobody
# under Landlock and seccomp); the peers are openssl s_server; the client
# is /vm/vm_client (tests/vm/vm_client.c).  Every result is one line on
# the console: "VMT ok NAME TEST", "VMT FAIL NAME TEST: why" or
# "VMT info NAME ...", which tests/vm/run.sh counts.
K=$1
T0=$(date +%s)
[ -z "${VMT_DEBUG:-}" ] || set -x
# A server that went away must not take the script with it.
trap '' PIPE
# Results carry the seconds since the start, to see where time goes.
ok() { echo "VMT ok $K $* [$(($(date +%s) - T0)) s]"; }
bad() { echo "VMT FAIL $K $* [$(($(date +%s) - T0)) s]"; }
info() { echo "VMT info $K $*"; }
check() {
	_n=$1
	shift
	if "$@"; then ok "$_n"; else bad "$_n"; fi
}
W=/tmp/www
mkdir -p $W
cd $W || exit 1
PORT=20000
C=/vm/vm_client

# ---- helpers ----

# both NAME TEST1 TEST2: two test(1) expressions, as one result.
both() {
	_n=$1
	if eval "$2" && eval "$3"; then ok "$_n"; else bad "$_n: $LAST"; fi
}

# waitport PORT: until something listens on 127.0.0.1:PORT (5 s).
waitport() {
	_h=$(printf ':%04X 00000000:0000 0A' "$1")
	_i=0
	while [ $_i -lt 100 ]; do
		grep -q "$_h" /proc/net/tcp && return 0
		sleep 0.05
		_i=$((_i + 1))
	done
	return 1
}

# srv VERSION AEAD ARGS...: one s_server for one connection on a new port
# (in PORT), output in /tmp/s.PORT; its pid in SPID.
srv() {
	_v=$1 _a=$2
	shift 2
	PORT=$((PORT + 1))
	case "$_v" in
	1.3) _c="-tls1_3 -ciphersuites $_a" ;;
	*) _c="-tls1_2 -cipher $_a" ;;
	esac
	# Its stdin must not end (s_server would close the connection) and
	# say nothing: a fifo that fd 4 holds open until swait.
	rm -f /tmp/s.in
	mkfifo /tmp/s.in
	# shellcheck disable=SC2086
	openssl s_server -accept 127.0.0.1:$PORT -naccept 1 \
	    -cert /pki/valid.pem -cert_chain /pki/int.pem -key /pki/valid.key \
	    $_c "$@" </tmp/s.in >/tmp/s.$PORT 2>/tmp/s.$PORT.err &
	SPID=$!
	exec 4>/tmp/s.in
	waitport $PORT
}

# swait: the server of the last srv ends (60 s), else it is killed.
swait() {
	_i=0
	while kill -0 "$SPID" 2>/dev/null && [ $_i -lt 1200 ]; do
		sleep 0.05
		_i=$((_i + 1))
	done
	kill "$SPID" 2>/dev/null
	wait "$SPID" 2>/dev/null
	exec 4>&-
	return 0
}

# val KEY LINE: the value of KEY=... in a result line.
val() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

sha() { sha256sum "$1" | cut -d' ' -f1; }

stat_tls() { awk -v k="$1" '$1 == k { print $2 }' /proc/net/tls_stat; }

# getcheck NAME VERSION AEAD FILE CLIENT-ARGS...: the server sends FILE
# (-HTTP: the file is the whole answer), the client reads it.
getcheck() {
	_name=$1 _v=$2 _a=$3 _f=$4
	shift 4
	srv "$_v" "$_a" -HTTP -quiet
	_out=$(timeout 120 $C "$@" ${GM:-get} 127.0.0.1 $PORT "$_f" 2>/tmp/c.err)
	_rc=$?
	swait
	LAST=$_out
	if [ $_rc -eq 0 ] && [ "$(val sha256 "$_out")" = "$(sha "$W/$_f")" ]; then
		ok "$_name"
	else
		bad "$_name: rc $_rc $_out $(tr "\n" " " </tmp/c.err)"
	fi
}

# putcheck NAME VERSION AEAD BYTES CLIENT-ARGS...: the client sends, the
# server writes what it got to its stdout.
putcheck() {
	_name=$1 _v=$2 _a=$3 _n=$4
	shift 4
	srv "$_v" "$_a" -quiet
	_out=$(timeout 120 $C "$@" put 127.0.0.1 $PORT "$_n" 2>/tmp/c.err)
	_rc=$?
	swait
	LAST=$_out
	if [ $_rc -eq 0 ] && [ "$(val sha256 "$_out")" = "$(sha /tmp/s.$PORT)" ]; then
		ok "$_name"
	else
		bad "$_name: rc $_rc $_out $(tr "\n" " " </tmp/c.err) server: $(head -c 300 /tmp/s.$PORT.err | tr "\n" " ")"
	fi
}

# ---- the daemon, as in production ----

cat >/tmp/d.conf <<EOF
user nobody
ca-file "/pki/ca.pem"
allow from any to 127.0.0.0/8
EOF
# engine_of PID: its engine once it runs sandboxed (seccomp on), 10 s at
# most by the clock (a scan of /proc costs much under an emulated CPU),
# and none once PID is gone.
engine_of() {
	_end=$(($(date +%s) + 10))
	while [ "$(date +%s)" -le $_end ] && kill -0 "$1" 2>/dev/null; do
		for _s in /proc/[0-9]*/status; do
			grep -q "^PPid:[[:space:]]*$1\$" "$_s" 2>/dev/null &&
			    grep -q '^Seccomp:[[:space:]]*2' "$_s" 2>/dev/null &&
			    { sed -n 's/^Pid:[[:space:]]*//p' "$_s"; return 0; }
		done
		sleep 0.05
	done
	return 1
}
/vm/cpconnectd -d -f /tmp/d.conf -s /run/cp.sock >/tmp/d.log 2>&1 &
DPID=$!
export CPCONNECT_SOCKET=/run/cp.sock
_i=0
while [ ! -S /run/cp.sock ] && [ $_i -lt 100 ]; do sleep 0.05; _i=$((_i + 1)); done
check "daemon started as root" test -S /run/cp.sock
EPID=$(engine_of $DPID)
check "engine runs as nobody" grep -q '^Uid:[[:space:]]*65534' /proc/$EPID/status
check "engine: no_new_privs" grep -q '^NoNewPrivs:[[:space:]]*1' /proc/$EPID/status
check "engine: seccomp filter" grep -q '^Seccomp:[[:space:]]*2' /proc/$EPID/status
check "engine: Landlock available" sh -c "! grep -q 'Landlock unavailable' /tmp/d.log"
if [ -z "$EPID" ] || ! [ -S /run/cp.sock ]; then
	bad "the daemon is not serving; its log:"
	sed 's/^/VMT info '"$K"' d.log: /' /tmp/d.log
	exit 0
fi
# The same daemon's test build proves the sandbox from inside an engine.
CPCONNECTD_TEST_HOOKS=1 /vm/cpconnectd-hooks -d -f /tmp/d.conf \
    -s /run/cph.sock >/tmp/dh.log 2>&1 &
HPID=$!
_i=0
while ! grep -q 'exec /bin/true refused' /tmp/dh.log && [ $_i -lt 200 ]; do
	sleep 0.05
	_i=$((_i + 1))
done
check "engine: Landlock refuses a file" grep -q 'open /etc/passwd refused' /tmp/dh.log
check "engine: seccomp refuses exec" grep -q 'exec /bin/true refused' /tmp/dh.log
kill $HPID
wait $HPID 2>/dev/null

# ---- data ----

# /dev/urandom is slow under an emulated CPU; vm_client's stream is not.
$C gen 1048576 $W/m1
$C gen 16777216 $W/big
TX0=$(stat_tls TlsTxSw)
RX0=$(stat_tls TlsRxSw)
info "tls_stat at start: TlsTxSw=$TX0 TlsRxSw=$RX0"
if grep -q TlsRxRekeyOk /proc/net/tls_stat; then REKEY=1; else REKEY=0; fi
info "kernel re-keys: $REKEY"
if [ "$K" = new ]; then
	check "this kernel can re-key (tls_stat)" [ $REKEY -eq 1 ]
else
	check "this kernel cannot re-key (tls_stat)" [ $REKEY -eq 0 ]
fi

# ---- each AEAD, each version ----

NK=0 # connections that must be on the kernel path
for va in "1.3 TLS_AES_128_GCM_SHA256" "1.3 TLS_AES_256_GCM_SHA384" \
    "1.3 TLS_CHACHA20_POLY1305_SHA256" \
    "1.2 ECDHE-ECDSA-AES128-GCM-SHA256" "1.2 ECDHE-ECDSA-AES256-GCM-SHA384" \
    "1.2 ECDHE-ECDSA-CHACHA20-POLY1305"; do
	set -- $va
	# Every pair once on the kernel path: TLS 1.3 on the new kernel,
	# TLS 1.2 on the old one, and there TLS 1.3 once, forced.
	mode=auto
	if [ "$1" = 1.3 ] && [ "$K" = old ]; then
		[ "$2" = TLS_AES_128_GCM_SHA256 ] || continue
		mode=require
	fi
	[ "$1" = 1.2 ] && [ "$K" = new ] && continue
	getcheck "TLS $1 $2: kernel, 1 MiB read(2)" "$1" "$2" m1 -K $mode -k 1 -V "$1"
	putcheck "TLS $1 $2: kernel, 1 MiB write(2)" "$1" "$2" 1048576 -K $mode -k 1 -V "$1"
	NK=$((NK + 2))
done

# The daemon's audit line names the record layer the library took.
logwait() {
	_i=0
	while ! grep -q "$1" /tmp/d.log && [ $_i -lt 40 ]; do
		sleep 0.05
		_i=$((_i + 1))
	done
	grep -q "$1" /tmp/d.log
}
check "audit line: ok ..., record kernel" logwait ': ok, .*, record kernel$'

# ---- TLS on a connection the program opened (cp_client_connect_ssl) ----

# Plaintext first, then the upgrade: the kernel path as for a fresh TLS
# connection, the same descriptor (vm_client -u checks it).  One
# connection: the request goes out through the kernel's TX key, the 1 MiB
# answer comes in through its RX key.  (The user-space path is tested on
# the build machine, test_starttls.)
if [ "$K" = new ]; then UV=1.3 UA=TLS_AES_128_GCM_SHA256; else UV=1.2 UA=ECDHE-ECDSA-AES128-GCM-SHA256; fi
getcheck "upgrade to TLS $UV: kernel, GET and 1 MiB read(2)" $UV $UA m1 -u -K auto -k 1 -V $UV
NK=$((NK + 1))

# ---- 16 MiB each way with plain read/write, and the throughput ----

if [ "$K" = new ]; then BV=1.3 BA=TLS_AES_128_GCM_SHA256; else BV=1.2 BA=ECDHE-ECDSA-AES128-GCM-SHA256; fi
# 16 MiB on the new kernel, 4 on the old (time: the CPU is emulated).
if [ "$K" = new ]; then BF=big BN=16777216 BM=16; else BF=m4 BN=4194304 BM=4; fi
head -c 4194304 $W/big >$W/m4
getcheck "$BM MiB read(2), TLS $BV kernel" $BV $BA $BF -k 1
KMB=$(val mbps "$LAST")
putcheck "$BM MiB write(2), TLS $BV kernel" $BV $BA $BN -k 1
KUP=$(val mbps "$LAST")
NK=$((NK + 2))
# The user-space rate, for the ratio: on one kernel only.
if [ "$K" = new ]; then
	getcheck "4 MiB cp_client_read, TLS $BV user space" $BV $BA m4 -K off -k 0 -l
	UMB=$(val mbps "$LAST")
	putcheck "4 MiB cp_client_write, TLS $BV user space" $BV $BA 4194304 -K off -k 0 -l
	UUP=$(val mbps "$LAST")
	check "audit line: ok ..., record user (-K off)" \
	    logwait ': ok, .*, record user$'
	info "throughput (emulated CPU, an indication only): read kernel $KMB MB/s, user space $UMB MB/s, ratio $(awk -v a="$KMB" -v b="$UMB" 'BEGIN { if (b > 0) printf "%.2f", a / b }'); write kernel $KUP MB/s, user space $UUP MB/s, ratio $(awk -v a="$KUP" -v b="$UUP" 'BEGIN { if (b > 0) printf "%.2f", a / b }')"
fi

# ---- cprops' cp_httpclient: SSL_read(client->ssl) if use_ssl, else recv ----
# (-W: a TLS 1.3 ticket that came after the connect would be an EIO to
# recv, and cp_httpclient has no fall-back to cp_client_read)
GM=cpropsget
getcheck "cp_httpclient-style recv/send on client->fd (use_ssl 0), TLS $BV kernel" $BV $BA m1 -k 1 -W 1000
GM=
NK=$((NK + 1))

# ---- sendfile over the handed-off socket ----

srv $BV $BA -quiet
out=$(timeout 60 $C -k 1 sendfile 127.0.0.1 $PORT $W/m1 2>/tmp/c.err)
rc=$?
swait
NK=$((NK + 1))
if [ $rc -eq 0 ] && [ "$(val sha256 "$out")" = "$(sha /tmp/s.$PORT)" ]; then
	ok "sendfile(2) of 1 MiB, TLS $BV kernel"
else
	bad "sendfile(2) of 1 MiB, TLS $BV kernel: rc $rc $out $(tr "\n" " " </tmp/c.err)"
fi

# ---- splice from the handed-off socket ----

srv $BV $BA -HTTP -quiet
out=$(timeout 60 $C -k 1 spliceget 127.0.0.1 $PORT m1 2>/tmp/c.err)
rc=$?
swait
NK=$((NK + 1))
if [ $rc -eq 0 ] && [ "$(val sha256 "$out")" = "$(sha $W/m1)" ]; then
	ok "splice(2) of 1 MiB from the socket, TLS $BV kernel"
else
	bad "splice(2) of 1 MiB from the socket, TLS $BV kernel: rc $rc $out $(tr "\n" " " </tmp/c.err)"
fi

# ---- TLS 1.3: tickets, fall-back, KeyUpdate ----

A13=TLS_AES_128_GCM_SHA256
if [ "$K" = new ]; then
	getcheck "TLS 1.3 tickets: read(2) with no EIO" 1.3 $A13 m1 -k 1 -W 1000
	NK=$((NK + 1))
	check "TLS 1.3 tickets consumed at connect" [ "$(val tickets_at_connect "$LAST")" -ge 1 ] 2>/dev/null
	check "TLS 1.3 tickets: no read(2) met one" [ "$(val eio "$LAST")" = 0 ]
	getcheck "TLS 1.3 tickets, no wait: data intact" 1.3 $A13 m1 -k 1
	NK=$((NK + 1))
	info "tickets consumed at connect without waiting: $(val tickets_at_connect "$LAST"), read(2) that met one: $(val eio "$LAST")"
else
	TX13=$(stat_tls TlsTxSw)
	getcheck "TLS 1.3 auto on a kernel that cannot re-key: user space" 1.3 $A13 m1 -k 0 -l
	check "TLS 1.3 user space: no kernel TLS session" [ "$(stat_tls TlsTxSw)" = "$TX13" ]
fi

# kupdate NAME CMD EXPECT CLIENT-ARGS...: the server sends a KeyUpdate
# (CMD k: not requested, K: requested) and a line under its new key; the
# client answers under its own new key.  EXPECT ok, or fail (the client
# must end with the re-key error and never see the line).
kupdate() {
	_name=$1 _cmd=$2 _exp=$3
	shift 3
	PORT=$((PORT + 1))
	rm -f /tmp/ku.in
	mkfifo /tmp/ku.in
	openssl s_server -accept 127.0.0.1:$PORT -naccept 1 -tls1_3 \
	    -cert /pki/valid.pem -cert_chain /pki/int.pem -key /pki/valid.key \
	    </tmp/ku.in >/tmp/ku.out 2>&1 &
	_sp=$!
	exec 3>/tmp/ku.in
	waitport $PORT
	timeout 60 $C "$@" keyupdate 127.0.0.1 $PORT >/tmp/kuc.out 2>/tmp/kuc.err &
	_cp=$!
	_i=0
	while ! grep -q CONNECTED /tmp/kuc.out && [ $_i -lt 200 ]; do sleep 0.05; _i=$((_i + 1)); done
	sleep 0.3
	echo "$_cmd" >&3
	sleep 0.5
	echo after-ku >&3
	_i=0
	while ! grep -q reply-after-ku /tmp/ku.out && kill -0 $_cp 2>/dev/null && [ $_i -lt 200 ]; do
		sleep 0.05
		_i=$((_i + 1))
	done
	echo bye >&3
	wait $_cp
	_rc=$?
	exec 3>&-
	kill $_sp 2>/dev/null
	wait $_sp 2>/dev/null
	LAST=$(grep sha256= /tmp/kuc.out)
	if [ "$_exp" = ok ]; then
		if [ $_rc -eq 0 ] && grep -q reply-after-ku /tmp/ku.out; then
			ok "$_name"
		else
			bad "$_name: rc $_rc $(cat /tmp/kuc.out /tmp/kuc.err | tr "\n" " ") server: $(grep -i -E 'error|alert' /tmp/ku.out | head -3)"
		fi
	elif [ $_rc -ne 0 ] && grep -q 'cannot re-key' /tmp/kuc.err &&
	    ! grep -q keyupdate=ok /tmp/kuc.out; then
		ok "$_name"
		info "the error: $(tr "\n" " " </tmp/kuc.err)"
	else
		bad "$_name: rc $_rc $(cat /tmp/kuc.out /tmp/kuc.err | tr "\n" " ")"
	fi
}

if [ "$K" = new ]; then
	kupdate "KeyUpdate (update_requested), kernel, read(2)/write(2)" K ok -k 1
	both "KeyUpdate answered: one in, one out" '[ "$(val ku_in "$LAST")" = 1 ]' '[ "$(val ku_out "$LAST")" = 1 ]'
	kupdate "KeyUpdate (not requested), kernel, cp_client_read" k ok -k 1 -l
	both "KeyUpdate not requested: one in, none out" '[ "$(val ku_in "$LAST")" = 1 ]' '[ "$(val ku_out "$LAST")" = 0 ]'
	NK=$((NK + 2))
	both "tls_stat: the kernel re-keyed (TlsRxRekeyOk, TlsTxRekeyOk)" \
	    '[ "$(stat_tls TlsRxRekeyOk)" -ge 2 ]' '[ "$(stat_tls TlsTxRekeyOk)" -ge 1 ]'
	putcheck "our own KeyUpdate every 32 records, 4 MiB" 1.3 $A13 4194304 -k 1 -l -R 32
	NK=$((NK + 1))
	check "our own KeyUpdates sent" [ "$(val ku_out "$LAST")" -ge 4 ] 2>/dev/null
else
	kupdate "KeyUpdate, user space (auto)" K ok -k 0 -l
	kupdate "KeyUpdate, kernel forced (require): a clear error" K fail -K require -k 1
	NK=$((NK + 1))
fi

# ---- the command (on one kernel: nothing in it depends on which) ----

if [ "$K" = new ]; then

srv $BV $BA -rev
out=$(echo hello | timeout 30 /vm/cpconnect --tls --info localhost $PORT 2>&1)
swait
NK=$((NK + 1))
check "cpconnect --info: record layer kernel" sh -c "echo '$out' | grep -q '^record layer: kernel'"
check "cpconnect pipe mode over kernel TLS" sh -c "echo '$out' | grep -qx olleh"
srv $BV $BA -rev
out=$(timeout 30 /vm/cpconnect --tls --json localhost $PORT </dev/null 2>&1)
swait
NK=$((NK + 1))
check "cpconnect --json: ktls true" sh -c "echo '$out' | grep -q '\"ktls\":true'"
srv 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 -rev
out=$(timeout 30 /vm/cpconnect --tls localhost $PORT sh -c \
    'echo hi >&7; read l <&6; echo "$l $(readlink /proc/self/fd/7) $(readlink /proc/self/fd/6)"' 2>&1)
swait
NK=$((NK + 1))
LAST=$out
both "exec mode, TLS 1.2 kernel: fd 7 is the socket itself" 'echo "$out" | grep -q "^ih socket:"' true
both "exec mode, TLS 1.2 kernel: fd 6 relayed (a pipe)" 'echo "$out" | grep -q "pipe:"' true

fi

# ---- the kernel's count ----

TX1=$(stat_tls TlsTxSw)
RX1=$(stat_tls TlsRxSw)
info "tls_stat at end: TlsTxSw=$TX1 TlsRxSw=$RX1 (kernel-path connections: $NK)"
check "tls_stat: TlsTxSw rose by every kernel connection" [ $((TX1 - TX0)) -ge $NK ]
check "tls_stat: TlsRxSw rose by every kernel connection" [ $((RX1 - RX0)) -ge $NK ]
check "daemon still up" kill -0 $DPID
kill $DPID
info "tests took $(($(date +%s) - T0)) s"
echo "VMT complete $K"
