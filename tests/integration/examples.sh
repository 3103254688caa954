#!/bin/sh
# SPDX-License-Identifier: ISC
# The example programs, built as a user would (make tests builds them from
# examples/*.c with the public header and -lcpconnect only), against a
# daemon of our own and loopback servers: openssl s_server -www with the
# test PKI for https_get, a TCP echo server for tcp_echo.
cd "$(dirname "$0")/../.." || exit 2
. tests/lib.sh

HG=$B/examples/https_get
TE=$B/examples/tcp_echo
if [ ! -x "$HG" ] || [ ! -x "$TE" ]; then
	bad "examples not built: run make tests"
	finish
fi
check "test PKI generated" t_pki
check "daemon started" t_daemon "user nobody
allow from any to 127.0.0.0/8
allow from any to ::1
ca-file \"$T_PKI/ca.pem\"
"
check "s_server (valid certificate) started" \
    t_tls_server "$T_TMP/valid.log" valid -www
PV=$T_PORT
check "s_server (wrong name) started" \
    t_tls_server "$T_TMP/wrong.log" wrongname -www
PW=$T_PORT
check "echo server started" t_echo_server "$T_TMP/echo.log"
PE=$T_PORT
O=$T_TMP/out
E=$T_TMP/err

# https_get, valid certificate, our CA file, SSL_VERIFY_PEER.
timeout 20 "$HG" 127.0.0.1 "$PV" "$T_PKI/ca.pem" peer >"$O" 2>"$E"
check "https_get peer: exit 0" [ $? -eq 0 ]
check "https_get peer: HTTP 200 from s_server -www" \
    grep -q '^HTTP/1.0 200 ok' "$O"
check "https_get peer: the page is s_server's status page" \
    grep -q 'Ciphers supported in s_server binary' "$O"
check "https_get peer: verify result 0" grep -qx 'verify result: 0 (ok)' "$E"
check "https_get peer: hostname matches" grep -qx 'hostname: match' "$E"
check "https_get peer: subject of the valid leaf" \
    grep -qx 'subject: /CN=valid.cpconnect.test' "$E"

# By name, with the daemon's trust store (ca-file in the configuration).
timeout 20 "$HG" localhost "$PV" - peer >"$O" 2>"$E"
check "https_get localhost, daemon trust store: exit 0" [ $? -eq 0 ]
check "https_get localhost: HTTP 200" grep -q '^HTTP/1.0 200 ok' "$O"
check "https_get localhost: hostname matches" grep -qx 'hostname: match' "$E"

# Wrong name, SSL_VERIFY_NONE: connected, the positive code is printed.
timeout 20 "$HG" 127.0.0.1 "$PW" "$T_PKI/ca.pem" none >"$O" 2>"$E"
check "https_get wrong name, none: exit 0" [ $? -eq 0 ]
check "https_get wrong name, none: positive verify code 64 (IP mismatch)" \
    grep -qx 'verify result: 64 (IP address mismatch)' "$E"
check "https_get wrong name, none: hostname mismatch" \
    grep -qx 'hostname: mismatch' "$E"
check "https_get wrong name, none: the page still arrives" \
    grep -q '^HTTP/1.0 200 ok' "$O"

# Wrong name, SSL_VERIFY_PEER: the connect fails, nothing is sent.
timeout 20 "$HG" 127.0.0.1 "$PW" "$T_PKI/ca.pem" peer >"$O" 2>"$E"
check "https_get wrong name, peer: exit 1" [ $? -eq 1 ]
check "https_get wrong name, peer: verification failure reported" \
    grep -q '^connect failed: certificate verification failed.*(verify result 64: IP address mismatch)' "$E"
check "https_get wrong name, peer: no output" [ ! -s "$O" ]

# Trust anchors that do not contain the root: verification fails.
timeout 20 "$HG" 127.0.0.1 "$PV" "$T_PKI/unknown.pem" none >"$O" 2>"$E"
check "https_get foreign CA file, none: exit 0" [ $? -eq 0 ]
check "https_get foreign CA file, none: a positive code, not 0" \
    grep -Eq '^verify result: [1-9][0-9]* ' "$E"

# tcp_echo against the echo server: one attempt, 5 s timeout.
timeout 20 "$TE" 127.0.0.1 "$PE" "hello echo" >"$O" 2>"$E"
check "tcp_echo: exit 0" [ $? -eq 0 ]
check "tcp_echo: the line comes back" grep -qx 'hello echo' "$O"
check "tcp_echo: reports the address connected" \
    grep -qx "connected to 127.0.0.1 port $PE" "$E"

# tcp_echo to a port nobody listens on: refused, after one attempt.
t_port
timeout 20 "$TE" 127.0.0.1 "$T_PORT" >"$O" 2>"$E"
check "tcp_echo refused: exit 1" [ $? -eq 1 ]
check "tcp_echo refused: connection refused" \
    grep -q 'connection refused.*(1 attempt)' "$E"

# Without the daemon the examples fail closed.
CPCONNECT_SOCKET=$T_TMP/nonexistent.sock timeout 20 "$TE" 127.0.0.1 "$PE" \
    >"$O" 2>"$E"
check "tcp_echo without daemon: exit 1" [ $? -eq 1 ]
check "tcp_echo without daemon: says the daemon is not reachable" \
    grep -q 'cpconnectd not reachable' "$E"

# Every request left one audit line.
check "daemon logged the requests" \
    grep -q "tls 127.0.0.1 port $PV -> 127.0.0.1 port $PV: ok, verify 0" \
    "$T_TMP/d.log"

# The shipped configuration passes the README's check as it stands (its
# engine user is the package's, absent here: nobody instead).
{ cat examples/cpconnectd.conf; echo "user nobody"; } >"$T_TMP/example.conf"
chmod 644 "$T_TMP/example.conf"
"$B/cpconnectd" -n -f "$T_TMP/example.conf" >"$O" 2>&1
check "examples/cpconnectd.conf: cpconnectd -n exits 0" [ $? -eq 0 ]
check "examples/cpconnectd.conf: configuration OK" grep -q "configuration OK" "$O"
# -R, which every engine reads at its start, is checked as well.
"$B/cpconnectd" -n -R bogus -f "$T_TMP/example.conf" >"$O" 2>&1
check "cpconnectd -n -R bogus: exit 1" [ $? -eq 1 ]
check "cpconnectd -n -R bogus: says why" \
    grep -q 'resolver servers "bogus"' "$O"
finish
