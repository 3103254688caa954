#!/bin/sh
# SPDX-License-Identifier: ISC
# cpconnect --starttls smtp|imap|pop3 end to end: a daemon of our own and
# the scripted STARTTLS server (tests/integration/starttls_serve.c) with
# the test PKI.  The dialogue of each protocol and data under TLS after
# it, --json and exec mode, verification and policy on the upgraded
# connection, and the servers a client must not trust: no STARTTLS,
# plaintext pipelined behind the go-ahead (CVE-2011-0411), an oversize
# line, silence.
cd "$(dirname "$0")/../.." || exit 2
. tests/lib.sh

CP=$B/cpconnect
SRV=$B/tests/starttls_serve
[ -x "$CP" ] && [ -x "$SRV" ] || { bad "$CP or $SRV not built"; finish; }
check "test PKI generated" t_pki
check "daemon started" t_daemon "user nobody
allow from any to 127.0.0.0/8
allow from any to localhost
ca-file \"$T_PKI/ca.pem\"
"
O=$T_TMP/out
E=$T_TMP/err
run() { timeout 20 "$CP" "$@" >"$O" 2>"$E"; }
# serve PROTO MODE [LEAF]: the scripted server, its port in T_PORT.
serve() {
	_leaf=${3:-valid}
	t_server "$T_TMP/srv.log" "$SRV" -P "$1" -m "$2" -p @PORT@ \
	    -c "$T_PKI/$_leaf.pem" -k "$T_PKI/$_leaf.key" -C "$T_PKI/int.pem"
}
stop_server() { kill "$T_SPID" 2>/dev/null; wait "$T_SPID" 2>/dev/null; }

for p in smtp imap pop3; do
	check "$p: server started" serve $p ok
	printf 'hello\nworld\n' | run --starttls $p localhost "$T_PORT"
	check "$p: exit 0" [ $? -eq 0 ]
	check "$p: data echoed under TLS" \
	    [ "$(cat "$O")" = "$(printf 'hello\nworld')" ]
	run -j --starttls $p localhost "$T_PORT" </dev/null
	check "$p: --json says starttls $p" grep -q "\"starttls\":\"$p\"" "$O"
	check "$p: --json verify_result 0" grep -q '"verify_result":0,' "$O"
	check "$p: --json tls true" grep -q '"tls":true' "$O"
	stop_server

	check "$p: server without STARTTLS started" serve $p none
	echo x | run --starttls $p localhost "$T_PORT"
	check "$p without STARTTLS: exit 6" [ $? -eq 6 ]
	check "$p without STARTTLS: says so" \
	    grep -Eq "STARTTLS \($p\): the server (does not offer STARTTLS|refused STARTTLS|refused STLS)" "$E"
	check "$p without STARTTLS: nothing relayed" [ ! -s "$O" ]
	stop_server

	check "$p: pipelining server started" serve $p pipeline
	echo x | run --starttls $p localhost "$T_PORT"
	check "$p pipelining after the go-ahead: exit 6" [ $? -eq 6 ]
	check "$p pipelining after the go-ahead: refused as injection" \
	    grep -q "CVE-2011-0411" "$E"
	stop_server

	check "$p: oversize-line server started" serve $p longline
	echo x | run --starttls $p localhost "$T_PORT"
	check "$p oversize line: exit 6" [ $? -eq 6 ]
	check "$p oversize line: says so" grep -q "longer than 1000 bytes" "$E"
	stop_server
done

# The fixture speaks SMTP as OpenSSL's client expects it.
check "smtp: server started (s_client)" serve smtp ok
echo Q | timeout 10 openssl s_client -starttls smtp -connect "127.0.0.1:$T_PORT" \
    -CAfile "$T_PKI/ca.pem" -verify_return_error >"$O" 2>&1
check "openssl s_client -starttls smtp verifies against the fixture" \
    grep -q 'Verify return code: 0' "$O"

# Exec mode: the program gets the TLS connection on 6 and 7.
run --starttls smtp localhost "$T_PORT" sh -c \
    'echo hi >&7; read l <&6; echo "$l $PROTO"'
check "exec mode: reply and PROTO=TLS" grep -qx "hi TLS" "$O"
# --info on stderr.
echo abc | run -i --starttls smtp localhost "$T_PORT"
check "--info: STARTTLS smtp named" grep -q "STARTTLS smtp" "$E"
check "--info: verify result line" grep -q '^verify result: 0 (ok)' "$E"

# A cprops program compiled unchanged (examples/smtp_starttls.c: the
# public header and -lcpconnect only) does its own STARTTLS.
SX=$B/examples/smtp_starttls
timeout 20 "$SX" localhost "$T_PORT" "$T_PKI/ca.pem" >"$O" 2>"$E"
check "smtp_starttls example: exit 0" [ $? -eq 0 ]
check "smtp_starttls example: verified" grep -qx "verified, hostname matches" "$O"
check "smtp_starttls example: EHLO answered under TLS" \
    grep -q "^250 AUTH PLAIN" "$O"
stop_server
check "smtp: server without STARTTLS started (example)" serve smtp none
timeout 20 "$SX" localhost "$T_PORT" >"$O" 2>"$E"
check "smtp_starttls example, no STARTTLS: exit 1" [ $? -eq 1 ]
stop_server
check "smtp: wrong-name server started (example)" serve smtp ok wrongname
timeout 20 "$SX" localhost "$T_PORT" >"$O" 2>"$E"
check "smtp_starttls example, wrong name: exit 1" [ $? -eq 1 ]
check "smtp_starttls example, wrong name: TLS failed" grep -q "^TLS: " "$E"

# Verification applies to the upgraded connection as to --tls.
check "wrong-name server started" serve imap ok wrongname
echo x | run --starttls imap localhost "$T_PORT"
check "wrong name: exit 7" [ $? -eq 7 ]
echo x | run -k --starttls imap localhost "$T_PORT"
check "wrong name, --no-verify: exit 0" [ $? -eq 0 ]
check "wrong name, --no-verify: data" grep -qx x "$O"
stop_server

# Silence: bounded by --timeout.
check "silent server started" serve smtp stall
t0=$(date +%s)
echo x | run -w 1 --starttls smtp localhost "$T_PORT"
rc=$?
check "silent server: exit 6" [ $rc -eq 6 ]
check "silent server: no answer in time" grep -q "no answer" "$E"
check "silent server: within 5 s" [ $(($(date +%s) - t0)) -le 5 ]
stop_server

# Policy: plain TCP allowed, TLS to that address not; the name alone
# does not get it through.
check "daemon (tcp only) started" t_daemon "user nobody
allow from any to 127.0.0.0/8 tcp
allow from any to localhost
ca-file \"$T_PKI/ca.pem\"
"
check "pop3: server started (policy)" serve pop3 ok
echo x | run --starttls pop3 localhost "$T_PORT"
check "TLS denied on the address: exit 4" [ $? -eq 4 ]
check "TLS denied on the address: says denied" grep -q "denied" "$E"
check "the audit line names the upgrade" \
    grep -q "upgrade localhost port $T_PORT -> 127.0.0.1 port $T_PORT: denied" \
    "$T_TMP/d.log"
stop_server

# Usage.
run --starttls ftp localhost 21
check "--starttls ftp: usage error (2)" [ $? -eq 2 ]
check "--starttls ftp: says which" grep -q "'ftp' is not smtp, imap or pop3" "$E"
finish
