#!/bin/sh
# SPDX-License-Identifier: ISC
# cpconnect(1) end to end with a daemon of our own: pipe mode over TCP (a
# loopback echo server) and TLS (openssl s_server -rev reverses each line),
# --info and --json, exec mode with its descriptors and environment, and
# the exit status table.
cd "$(dirname "$0")/../.." || exit 2
. tests/lib.sh

CP=$B/cpconnect
[ -x "$CP" ] || { bad "$CP not built"; finish; }
check "test PKI generated" t_pki
check "daemon started" t_daemon "user nobody
allow from any to 127.0.0.0/8
allow from any to ::1
ca-file \"$T_PKI/ca.pem\"
"
check "echo server started" t_echo_server "$T_TMP/echo.log"
PE=$T_PORT
check "s_server -rev (valid) started" t_tls_server "$T_TMP/rev.log" valid -rev
PV=$T_PORT
check "s_server -rev (wrong name) started" \
    t_tls_server "$T_TMP/wrong.log" wrongname -rev
PW=$T_PORT
# A server that takes what it is sent (into its log) and never answers or
# closes, not even after our end of file; and one that says "bye" and
# closes at once.
check "silent server started" t_server "$T_TMP/silent.log" perl \
    -MIO::Socket::INET -MIO::Select -e '
	my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
	    LocalPort => $ARGV[0], Listen => 16, ReuseAddr => 1) or exit 1;
	my $sel = IO::Select->new($s);
	my @held;
	$| = 1;
	print "ACCEPT\n";
	for (;;) {
		for my $h ($sel->can_read) {
			my $b;
			if ($h == $s) {
				$sel->add($s->accept);
			} elsif (sysread($h, $b, 65536)) {
				print $b;
			} else {
				$sel->remove($h);
				push @held, $h;
			}
		}
	}' @PORT@
PS=$T_PORT
check "closing server started" t_server "$T_TMP/closing.log" perl \
    -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
	    LocalPort => $ARGV[0], Listen => 16, ReuseAddr => 1) or exit 1;
	$| = 1;
	print "ACCEPT\n";
	while (my $c = $s->accept) {
		syswrite($c, "bye\n");
		close $c;
	}' @PORT@
PC=$T_PORT
O=$T_TMP/out
E=$T_TMP/err
run() { timeout 20 "$CP" "$@" >"$O" 2>"$E"; }
# runt SECS ARGS...: run within SECS (status 124 when it takes longer).
runt() {
	_t=$1
	shift
	timeout "$_t" "$CP" "$@" >"$O" 2>"$E"
}
# A standard input that stays open and never has data: a FIFO this shell
# holds open for writing too.
mkfifo "$T_TMP/idle"
exec 9<>"$T_TMP/idle"

# Pipe mode, plain TCP.
printf 'one\ntwo\n' | run 127.0.0.1 "$PE"
check "tcp pipe: exit 0" [ $? -eq 0 ]
check "tcp pipe: echoed back" [ "$(cat "$O")" = "$(printf 'one\ntwo')" ]
head -c 300000 /dev/urandom >"$T_TMP/big"
run 127.0.0.1 "$PE" <"$T_TMP/big"
check "tcp pipe: 300 kB echoed intact" cmp -s "$T_TMP/big" "$O"

# Pipe mode, TLS: s_server -rev answers each line reversed.
echo hello | run --tls 127.0.0.1 "$PV"
check "tls pipe: exit 0" [ $? -eq 0 ]
check "tls pipe: hello -> olleh" grep -qx olleh "$O"
echo hello | run -t -6 ::1 "$PV"
check "tls over IPv6 to an IPv4-only server: network failure (5)" [ $? -eq 5 ]

# --info on stderr, the data still relayed.
echo abc | run -t -i localhost "$PV"
check "--info: exit 0" [ $? -eq 0 ]
check "--info: data relayed" grep -qx cba "$O"
check "--info: verify result line" grep -q '^verify result: 0 (ok)' "$E"
check "--info: leaf subject" grep -q 's:CN=valid.cpconnect.test' "$E"
check "--info: TLS version" grep -Eq 'TLSv1\.[23]' "$E"

# --json on stdout, no relaying.
run -t -j 127.0.0.1 "$PV" </dev/null
check "--json: exit 0" [ $? -eq 0 ]
check "--json: verify_result 0" grep -q '"verify_result":0,' "$O"
check "--json: hostname_match true" grep -q '"hostname_match":true' "$O"
check "--json: tls true" grep -q '"tls":true' "$O"
check "--json: address" grep -q '"address":"127.0.0.1"' "$O"
check "--json: one line" [ "$(wc -l <"$O")" -eq 1 ]
# A full handshake shows the chain; a resumed one (the ticket came with
# the reply read above) the same, kept with the session, whichever engine
# resumed it.
check "s_server (valid) for a first handshake started" \
    t_tls_server "$T_TMP/fresh.log" valid -rev
run -t -j 127.0.0.1 "$T_PORT" </dev/null
check "--json, full handshake: resumed false" grep -q '"resumed":false' "$O"
check "--json, full handshake: chain of two (leaf, intermediate)" \
    [ "$(grep -o '"subject":' "$O" | wc -l)" -eq 2 ]
for i in 1 2; do
	run -t -j 127.0.0.1 "$PV" </dev/null
	check "--json, resumed ($i): resumed true" grep -q '"resumed":true' "$O"
	check "--json, resumed ($i): chain of two" \
	    [ "$(grep -o '"subject":' "$O" | wc -l)" -eq 2 ]
done
run -j 127.0.0.1 "$PE" </dev/null
check "--json tcp: tls false" grep -q '"tls":false' "$O"

# Exec mode: the program talks on fds 6 and 7 and sees the environment.
run --tls 127.0.0.1 "$PV" sh -c \
    'echo hi >&7; read l <&6; echo "$l $PROTO $TCPREMOTEIP $TCPREMOTEPORT"'
check "exec tls: exit 0" [ $? -eq 0 ]
check "exec tls: reply and environment" grep -qx "ih TLS 127.0.0.1 $PV" "$O"
run -t 127.0.0.1 "$PV" sh -c 'exec 7>&-; env' </dev/null
check "exec tls: CPCONNECT_VERIFY_RESULT=0" grep -qx 'CPCONNECT_VERIFY_RESULT=0' "$O"
check "exec tls: CPCONNECT_TLS_VERSION" grep -Eqx 'CPCONNECT_TLS_VERSION=TLSv1\.[23]' "$O"
check "exec tls: CPCONNECT_TLS_CIPHER" grep -q '^CPCONNECT_TLS_CIPHER=TLS_' "$O"
check "exec tls: CPCONNECT_PEER_SUBJECT" \
    grep -qx 'CPCONNECT_PEER_SUBJECT=CN=valid.cpconnect.test' "$O"
check "exec tls: CPCONNECT_PEER_SHA256" \
    grep -Eqx 'CPCONNECT_PEER_SHA256=([0-9A-F]{2}:){31}[0-9A-F]{2}' "$O"
check "exec tls: TCPREMOTEHOST" grep -qx 'TCPREMOTEHOST=127.0.0.1' "$O"
run 127.0.0.1 "$PE" sh -c 'echo ping >&7; exec 7>&-; read l <&6; echo "$l $PROTO"; env'
check "exec tcp: echo and PROTO=TCP" grep -qx 'ping TCP' "$O"
check "exec tcp: no CPCONNECT_ variables" sh -c "! grep -q '^CPCONNECT_TLS' '$O'"
run 127.0.0.1 "$PE" sh -c 'exit 9' </dev/null
check "exec: the program's exit status (9)" [ $? -eq 9 ]
run 127.0.0.1 "$PE" /nonexistent/program </dev/null
check "exec: a program that cannot run: 127" [ $? -eq 127 ]
# The program's end is the end, whatever the server does (tcpclient).
runt 5 127.0.0.1 "$PS" true </dev/null
check "exec, silent server: ends with the program, exit 0" [ $? -eq 0 ]
runt 5 -w 2 127.0.0.1 "$PS" true </dev/null
check "exec -w 2, silent server: exit 0" [ $? -eq 0 ]
check "exec -w 2, silent server: no message" [ ! -s "$E" ]
runt 5 127.0.0.1 "$PS" sh -c 'exit 3' </dev/null
check "exec, silent server: the program's status (3)" [ $? -eq 3 ]
runt 5 127.0.0.1 "$PS" sh -c 'echo lastword >&7' </dev/null
check "exec, silent server: the program's last words, exit 0" [ $? -eq 0 ]
check "exec, silent server: the last words sent" \
    wait_for grep -q lastword "$T_TMP/silent.log"
runt 5 -t 127.0.0.1 "$PV" true </dev/null
check "exec tls: ends with the program, exit 0" [ $? -eq 0 ]

# Exit status table.
run </dev/null
check "no operands: usage (2)" [ $? -eq 2 ]
run 127.0.0.1 0 </dev/null
check "port 0: usage (2)" [ $? -eq 2 ]
run --bogus 127.0.0.1 80 </dev/null
check "unknown option: usage (2)" [ $? -eq 2 ]
run -k 127.0.0.1 "$PV" </dev/null
check "-k without --tls: usage (2)" [ $? -eq 2 ]
run -S "$T_TMP/nonexistent.sock" 127.0.0.1 "$PE" </dev/null
check "nonexistent socket: daemon unreachable (3)" [ $? -eq 3 ]
check "nonexistent socket: says so" grep -q 'cpconnectd not reachable' "$E"
# An empty CPCONNECT_SOCKET is unset, as for the library: the default.
(CPCONNECT_SOCKET= run 127.0.0.1 "$PE" </dev/null)
check "empty CPCONNECT_SOCKET: not the empty path" \
    sh -c "! grep -q 'reachable at :' '$E'"
if [ ! -S /run/cpconnect/cpconnect.sock ]; then
	check "empty CPCONNECT_SOCKET: the default socket" \
	    grep -q 'not reachable at /run/cpconnect/cpconnect.sock' "$E"
fi
run 10.1.2.3 80 </dev/null
check "10.1.2.3 denied by policy (4)" [ $? -eq 4 ]
check "denial names the reason" grep -q 'denied' "$E"
t_port
run -r 0 127.0.0.1 "$T_PORT" </dev/null
check "refused port: network failure (5)" [ $? -eq 5 ]
check "refused port: connection refused" grep -q 'connection refused' "$E"
run -q -r 0 127.0.0.1 "$T_PORT" </dev/null
check "-q: exit 5 and no message" [ $? -eq 5 ] && check "-q: stderr empty" [ ! -s "$E" ]
echo hi | run --tls 127.0.0.1 "$PW"
check "wrong-name certificate: verification failure (7)" [ $? -eq 7 ]
check "wrong-name certificate: nothing relayed" [ ! -s "$O" ]
echo hi | run --tls -k -v 127.0.0.1 "$PW"
check "wrong-name certificate with -k: exit 0" [ $? -eq 0 ]
check "wrong-name certificate with -k: data relayed" grep -qx ih "$O"
check "wrong-name certificate with -k -v: reported" \
    grep -q 'certificate not verified: IP address mismatch' "$E"
echo hi | run --tls 127.0.0.1 "$PE"
check "TLS to a plain TCP server: handshake failure (6)" [ $? -eq 6 ]
# A bad option value: usage (2), and the message names the option as
# written and the value.
badval() { # MESSAGE ARGS...: exit 2 and MESSAGE on stderr
	_m=$1
	shift
	run "$@" </dev/null
	_rc=$?
	check "$* : usage (2)" [ $_rc -eq 2 ]
	check "$* : says \"$_m\"" grep -qF -- "$_m" "$E"
}
for v in abc 0 -1 3601 nan inf 1e9 '' 1e1 0x10 +1 ' 1' . 1.2.3 0.00000001 \
    0.0000004; do
	badval "cpconnect: --timeout: '$v' is not a number of seconds" \
	    --timeout "$v" 127.0.0.1 "$PE"
done
badval "cpconnect: -w: 'abc' is not a number of seconds" -w abc 127.0.0.1 "$PE"
# A microsecond is the least.
for v in 0.000001 .5 2.; do
	run -w "$v" 127.0.0.1 "$PE" </dev/null
	check "-w $v: taken (not a usage error)" [ $? -ne 2 ]
done
for v in abc -1 1001 1.5 ''; do
	badval "cpconnect: --retries: '$v' is not a number of retries" \
	    --retries "$v" 127.0.0.1 "$PE"
done
badval "cpconnect: -r: 'x' is not a number of retries" -r x 127.0.0.1 "$PE"
badval "cpconnect: --socket: '' is not a socket path" --socket '' 127.0.0.1 "$PE"
long=$(printf '%0120d' 0)
badval "cpconnect: -S: '/$long' is longer than 107 bytes" -S "/$long" \
    127.0.0.1 "$PE"
badval "cpconnect: --ca-file: '$T_TMP/none.pem': No such file or directory" \
    -t --ca-file "$T_TMP/none.pem" 127.0.0.1 "$PV"
badval "cpconnect: --ca-dir: '$T_PKI/ca.pem': Not a directory" \
    -t --ca-dir "$T_PKI/ca.pem" 127.0.0.1 "$PV"
badval "cpconnect: --servername: 'a b' is not a host name" \
    -t --servername 'a b' 127.0.0.1 "$PV"
badval "cpconnect: --servername: '' is not a host name" \
    -t --servername '' 127.0.0.1 "$PV"
# RFC 6066: the server name indication carries no address.
badval "cpconnect: --servername: '127.0.0.1' is not a host name" \
    -t --servername 127.0.0.1 127.0.0.1 "$PV"
badval "cpconnect: --alpn: 'h2,,x': ALPN list" -t --alpn 'h2,,x' 127.0.0.1 "$PV"
for h in '' 'bad host!' "$(printf '%0300d' 0).example"; do
	badval "cpconnect: host: '$h' is not a host name or address" "$h" 8080
done
CPCONNECT_KTLS=bogus
export CPCONNECT_KTLS
badval "cpconnect: CPCONNECT_KTLS: 'bogus' is not off, auto or require" \
    -t 127.0.0.1 "$PV"
# Before connecting: the echo server would not answer the dialogue.
badval "cpconnect: CPCONNECT_KTLS: 'bogus' is not off, auto or require" \
    --starttls smtp 127.0.0.1 "$PE"
unset CPCONNECT_KTLS
(CPCONNECT_KTLS=OFF run -t 127.0.0.1 "$PV" </dev/null)
check "CPCONNECT_KTLS=OFF (any case): exit 0" [ $? -eq 0 ]
(CPCONNECT_KTLS=bogus run 127.0.0.1 "$PE" </dev/null)
check "CPCONNECT_KTLS=bogus without TLS: not read, exit 0" [ $? -eq 0 ]
badval "cpconnect: port: 'http' is not a port number (1 to 65535)" \
    127.0.0.1 http
badval "cpconnect: port: '65536' is not a port number (1 to 65535)" \
    127.0.0.1 65536

# Pipe mode ends with the connection's read side, however long standard
# input stays open: at the server's end of file (what came is written out
# first), at a read timeout, and when standard output goes away.
runt 5 127.0.0.1 "$PC" <&9
check "pipe, server closes: exit 0 without the end of stdin" [ $? -eq 0 ]
check "pipe, server closes: its data written" grep -qx bye "$O"
runt 5 -w 1 127.0.0.1 "$PS" <&9
check "pipe -w 1, silent server: exit 1 at the timeout" [ $? -eq 1 ]
check "pipe -w 1, silent server: says so" \
    grep -q 'read timed out after 1 s' "$E"
runt 5 -w 1 -t 127.0.0.1 "$PV" <&9
check "tls pipe -w 1: exit 1 at the timeout" [ $? -eq 1 ]
timeout 20 sh -c 'head -c 20000000 /dev/zero |
    { "$1" 127.0.0.1 "$2" 2>"$3"; echo $? >"$4"; } | head -c 10 >/dev/null' \
    sh "$CP" "$PE" "$E" "$T_TMP/rc"
check "pipe, stdout gone while sending 20 MB: ends" [ $? -ne 124 ]
check "pipe, stdout gone: I/O error (1)" [ "$(cat "$T_TMP/rc")" = 1 ]
check "pipe, stdout gone: says so" \
    grep -q 'standard output: Broken pipe' "$E"

# A read that times out says so, with the timeout (the echo server stays
# silent while stdin stays open without data).
sleep 2 | run -w 1 127.0.0.1 "$PE"
check "read timeout: I/O error (1)" [ $? -eq 1 ]
check "read timeout: says so" grep -q 'read timed out after 1 s' "$E"
check "read timeout: not EAGAIN's text" sh -c "! grep -q 'temporarily' '$E'"
sleep 2 | run -w 0.5 -t 127.0.0.1 "$PV"
check "TLS read timeout: says so" grep -q 'read timed out after 0.5 s' "$E"

# The page as it renders, which mandoc -Tlint does not judge: words that
# follow Fl on its line become flags ("--starttls: -the -protocol"), and
# a quote opened inside another runs on ("`ocsp: good, ... or `off''").
if command -v mandoc >/dev/null; then
	mandoc -Tascii man/cpconnect.1 | col -b >"$T_TMP/page"
	unseen() { ! grep -E -- "$1" "$T_TMP/page"; }
	check "cpconnect.1: no words rendered as flags" \
	    unseen '(^| )-[a-z]{2,} -[a-z]{2,}'
	check "cpconnect.1: no quote within a quote" unseen "\`[^']*\`"
else
	bad "mandoc is not installed"
fi

run -V </dev/null
check "-V: exit 0 and version" grep -q '^cpconnect [0-9]' "$O"
run -h </dev/null
check "-h: exit 0 and usage on stdout" grep -q '^usage: cpconnect' "$O"
finish
