#!/bin/sh
# SPDX-License-Identifier: ISC
# cpconnect-run(1) end to end: unmodified programs (curl over http and
# https, wget, Python's urllib, git, nc) run in "unshare -rn", a namespace
# with no network at all, reach servers on this host's loopback through a
# daemon of our own, by address and by name (a fake DNS server the daemon
# asks); policy denials, refusals, UDP, static and set-ID programs, fork and
# exec, and what a program notices (preload_probe).
cd "$(dirname "$0")/../.." || exit 2
. tests/lib.sh

RUN=$B/cpconnect-run
PROBE=$B/tests/preload_probe
DNS=$B/tests/fakedns_serve
PY=/usr/bin/python3
for f in "$RUN" "$B/libcpconnect-preload.so" "$PROBE" "$DNS"; do
	[ -e "$f" ] || { bad "$f not built"; finish; }
done
for p in curl wget git nc "$PY"; do
	command -v "$p" >/dev/null || { bad "$p is not installed"; finish; }
done
unshare -rn true 2>/dev/null || { bad "unshare -rn does not work here"; finish; }

# The preload lives in other programs: it must not bring symbols of its
# own (they would clash with theirs) nor libraries (OpenSSL) into them.
SO=$B/libcpconnect-preload.so
exp=$(nm -D --defined-only "$SO" | awk '{print $3}' | sed 's/@.*//' | sort | tr '\n' ' ')
check "the preload exports only what it interposes" [ "$exp" = \
    "connect getaddrinfo gethostbyaddr gethostbyaddr_r gethostbyname gethostbyname2 gethostbyname2_r gethostbyname_r getnameinfo sendmmsg sendmsg sendto socket " ] ||
    echo "    exports: $exp"
need=$(readelf -d "$SO" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' |
    grep -Ev '^(libc\.so\.6|ld-linux.*)$' | tr '\n' ' ')
check "the preload needs libc and the loader alone" [ -z "$need" ] ||
    echo "    also needs: $need"

O=$T_TMP/out
E=$T_TMP/err
# in NAME CMD...: CMD in a namespace without a network, through
# cpconnect-run (bounded in time); out in $O, err in $E.
in_ns() { timeout 30 unshare -rn "$RUN" "$@" >"$O" 2>"$E"; }
# no_net CMD...: the same command without cpconnect-run must fail.
no_net() { ! timeout 30 unshare -rn "$@" >/dev/null 2>&1; }
has() { grep -q -- "$1" "$2"; }
# dlog RE: the daemon's log has it, or will within 2 s (the audit line
# is written after the reply).
dlog() {
	_i=0
	while ! grep -q -- "$1" "$T_TMP/d.log"; do
		[ $_i -ge 40 ] && return 1
		sleep 0.05
		_i=$((_i + 1))
	done
}

# ---- servers ----
check "test PKI generated" t_pki
mkdir -p "$T_TMP/www"
head -c 20000 /dev/urandom | od -An -tx1 >"$T_TMP/www/page.txt"
check "http server on 127.0.0.1" t_server "$T_TMP/http.log" "$PY" -c '
import functools, http.server, sys
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[2])
s = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), h)
print("ACCEPT", flush=True)
s.serve_forever()' @PORT@ "$T_TMP/www"
PH=$T_PORT
check "http server on ::1" t_server "$T_TMP/http6.log" "$PY" -c '
import functools, http.server, socket, sys
class S(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[2])
s = S(("::1", int(sys.argv[1])), h)
print("ACCEPT", flush=True)
s.serve_forever()' @PORT@ "$T_TMP/www"
P6=$T_PORT
check "s_server -www (valid) started" t_tls_server "$T_TMP/tls.log" valid -www
PS=$T_PORT
check "echo server started" t_echo_server "$T_TMP/echo.log"
PE=$T_PORT
# git daemon says nothing when ready: wait for its port.
mkdir -p "$T_TMP/git"
git init -q --bare "$T_TMP/git/r.git"
git init -q "$T_TMP/src"
(cd "$T_TMP/src" && echo one >f && git add f &&
    git -c user.email=t@t -c user.name=t commit -q -m 'first commit' &&
    git push -q "$T_TMP/git/r.git" HEAD:refs/heads/master) >/dev/null 2>&1
check "git daemon started" t_server "$T_TMP/git.log" sh -c '
	git daemon --export-all --base-path="$1" --listen=127.0.0.1 \
	    --port="$2" --reuseaddr & p=$!
	trap "kill $p" TERM
	i=0
	while [ $i -lt 100 ]; do
		if nc -z 127.0.0.1 "$2" 2>/dev/null; then
			echo ACCEPT
			wait $p
			exit
		fi
		kill -0 $p 2>/dev/null || exit 1
		sleep 0.05
		i=$((i + 1))
	done
	kill $p
	exit 1' sh "$T_TMP/git" @PORT@
PG=$T_PORT
t_port
PR=$T_PORT # nothing listens there
t_port
PD=$T_PORT # denied by a rule

# ---- fake DNS and the daemon ----
bg "$DNS" web.test=127.0.0.1 test.example=127.0.0.1 blocked.test=127.0.0.1 \
    v6only.test=::1 slow.test=never >"$T_TMP/dns.out" 2>&1 </dev/null
wait_for grep -q '^127.0.0.1:' "$T_TMP/dns.out"
check "fake DNS server started" grep -q '^127.0.0.1:' "$T_TMP/dns.out"
check "daemon started" t_daemon "user nobody
deny from any to blocked.test
deny from any to 127.0.0.1 port $PD
allow from any to 127.0.0.0/8
allow from any to ::1
" -R "$(cat "$T_TMP/dns.out")"

# ---- curl over http ----
U=http://127.0.0.1:$PH/page.txt
check "curl without cpconnect-run: no network" no_net curl -sS -m 5 "$U"
in_ns curl -sS -m 10 -o - "$U"
check "curl http by address: exit 0" [ $? -eq 0 ]
check "curl http by address: the page" cmp -s "$O" "$T_TMP/www/page.txt"
in_ns curl -sS -m 10 "http://web.test:$PH/page.txt"
check "curl http by name: the page" cmp -s "$O" "$T_TMP/www/page.txt"
check "by name: the daemon was asked for the name" \
    dlog "tcp web.test port $PH -> 127.0.0.1 port $PH: ok"
check "the audit line names the program's uid" \
    dlog "uid $(id -u) gid $(id -g) pid [0-9]*: tcp web.test port $PH"
in_ns curl -sS -m 10 "http://localhost:$PH/page.txt"
check "curl http to localhost: the page" cmp -s "$O" "$T_TMP/www/page.txt"
in_ns curl -sS -m 10 "http://v6only.test:$P6/page.txt"
check "curl http by name to an IPv6-only server" \
    cmp -s "$O" "$T_TMP/www/page.txt"
check "IPv6: the daemon connected ::1" \
    dlog "tcp v6only.test port $P6 -> ::1 port $P6: ok"
in_ns -v curl -sS -m 10 -o /dev/null "http://web.test:$PH/page.txt"
check "--verbose: the routed connect and its placeholder" \
    grep -Eq "curl\[[0-9]+\]: tcp web.test port $PH \(placeholder 240(\.[0-9]+){3}\) -> 127.0.0.1 port $PH: ok" "$E"

# ---- curl over https: curl's own TLS over the daemon's TCP ----
check "curl https without cpconnect-run: no network" \
    no_net curl -sS -m 5 --cacert "$T_PKI/ca.pem" "https://test.example:$PS/"
in_ns curl -sS -m 10 --cacert "$T_PKI/ca.pem" "https://test.example:$PS/"
check "curl https by name: exit 0" [ $? -eq 0 ]
check "curl https by name: s_server's page" has 'Ciphers supported' "$O"
in_ns curl -sS -m 10 "https://test.example:$PS/"
check "curl https without the test root: curl's verification fails (60)" \
    [ $? -eq 60 ]
in_ns curl -sS -m 10 --cacert "$T_PKI/ca.pem" "https://127.0.0.1:$PS/"
check "curl https by address (IP SAN)" has 'Ciphers supported' "$O"

# ---- wget, Python, git, nc ----
check "wget without cpconnect-run: no network" \
    no_net wget -q -T 5 -t 1 -O - "http://127.0.0.1:$PH/page.txt"
in_ns wget -q -T 10 -t 1 -O - "http://web.test:$PH/page.txt"
check "wget by name: the page" cmp -s "$O" "$T_TMP/www/page.txt"
PYGET='import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())'
check "python urllib without cpconnect-run: no network" \
    no_net "$PY" -c "$PYGET" "http://127.0.0.1:$PH/page.txt"
in_ns "$PY" -c "$PYGET" "http://web.test:$PH/page.txt"
check "python urllib by name: the page" cmp -s "$O" "$T_TMP/www/page.txt"
in_ns "$PY" -c "$PYGET" "http://127.0.0.1:$PH/page.txt"
check "python urllib by address: the page" cmp -s "$O" "$T_TMP/www/page.txt"
check "git clone without cpconnect-run: no network" \
    no_net git clone -q "git://127.0.0.1:$PG/r.git" "$T_TMP/c0"
in_ns git clone -q "git://web.test:$PG/r.git" "$T_TMP/c1"
check "git clone by name: exit 0" [ $? -eq 0 ]
check "git clone by name: the commit" \
    sh -c "git -C '$T_TMP/c1' log --format=%s | grep -qx 'first commit'"
check "nc without cpconnect-run: no network" \
    no_net sh -c "echo x | nc -N 127.0.0.1 $PE"
printf 'ping\n' | in_ns nc -N 127.0.0.1 "$PE"
check "nc by address: bytes sent and received" [ "$(cat "$O")" = ping ]
head -c 100000 /dev/urandom >"$T_TMP/big"
in_ns nc -N web.test "$PE" <"$T_TMP/big"
check "nc by name: 100 kB echoed intact" cmp -s "$T_TMP/big" "$O"

# ---- refusals ----
in_ns -v nc -v -N blocked.test "$PH" </dev/null
check "denied name: nc says permission denied" has 'Permission denied' "$E"
check "denied name: the audit line names the rule" \
    dlog "tcp blocked.test port $PH -> - port 0: denied by policy, denied by rule at .*d.conf:2"
check "denied name: --verbose names the rule too" \
    has "denied by rule at .*d.conf:2" "$E"
in_ns curl -sS -m 10 "http://blocked.test:$PH/"
check "denied name: curl cannot connect (7)" [ $? -eq 7 ]
in_ns "$PY" -c "$PYGET" "http://127.0.0.1:$PD/"
check "denied port: Python's PermissionError" has 'Permission denied' "$E"
check "denied port: the audit line names the rule" \
    dlog "tcp 127.0.0.1 port $PD -> - port 0: denied by policy, denied by rule at .*d.conf:3"
in_ns nc -v -N 127.0.0.1 "$PR" </dev/null
check "nothing listening: connection refused" has 'Connection refused' "$E"
in_ns curl -sS -m 10 "http://nosuch.test:$PH/"
check "a name the daemon cannot resolve: curl cannot connect (7)" [ $? -eq 7 ]
check "a name the daemon cannot resolve: logged" \
    dlog "tcp nosuch.test port $PH -> - port 0: name not found"
start=$(date +%s)
in_ns -w 1 curl -sS -m 20 "http://slow.test:$PH/"
rc=$?
check "-w 1: a name that never resolves fails in time" \
    [ $rc -ne 0 ] && [ $(($(date +%s) - start)) -le 8 ]
in_ns "$PY" -c 'import socket, struct, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 1, 0))
t = time.time()
try:
    s.connect(("slow.test", int(sys.argv[1])))
except OSError as e:
    print(e.errno, int(time.time() - t))' "$PH"
check "SO_SNDTIMEO 1 s bounds a blocking connect: ETIMEDOUT within 4 s" \
    grep -Eqx '110 [0-3]' "$O"
start=$(date +%s)
in_ns -v nc -u -w 1 127.0.0.1 53 </dev/null
rc=$?
check "UDP: refused, not a hang" [ $rc -ne 0 ] && [ $(($(date +%s) - start)) -le 8 ]
check "UDP: --verbose says why" has 'udp 127.0.0.1 port 53 refused: only TCP' "$E"
in_ns "$PY" -c 'import socket
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("web.test", 53))'
check "UDP sendto from Python: Operation not permitted" \
    has 'Operation not permitted' "$E"

# ---- fork and exec ----
in_ns sh -c "curl -sS -m 10 http://web.test:$PH/page.txt"
check "sh -c curl: the child is routed" cmp -s "$O" "$T_TMP/www/page.txt"
in_ns sh -c "sh -c 'exec $PY -c \"\$0\" \"\$1\"' '$PYGET' http://web.test:$PH/page.txt"
check "sh, sh, exec python: routed" cmp -s "$O" "$T_TMP/www/page.txt"
in_ns sh -c "env -u LD_PRELOAD curl -sS -m 5 http://127.0.0.1:$PH/page.txt"
check "a child that drops LD_PRELOAD is not routed: its choice" [ $? -ne 0 ]
(cd "$T_TMP" && timeout 30 unshare -rn "$OLDPWD/$RUN" -S d.sock sh -c \
    "cd / && curl -sS -m 10 http://web.test:$PH/page.txt" >"$O" 2>"$E")
check "--socket relative: made absolute for children elsewhere" \
    cmp -s "$O" "$T_TMP/www/page.txt"

# ---- what cpconnect-run refuses and says ----
printf '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n' \
    >"$T_TMP/st.c"
if cc -static -o "$T_TMP/static" "$T_TMP/st.c" 2>/dev/null; then
	in_ns "$T_TMP/static"
	check "statically linked: refused (126)" [ $? -eq 126 ]
	check "statically linked: says so" has \
	    "cpconnect-run: $T_TMP/static is statically linked: its connections cannot be routed through cpconnectd" "$E"
	check "statically linked: not run" [ ! -s "$O" ]
	printf '#!%s\n' "$T_TMP/static" >"$T_TMP/st.sh"
	chmod +x "$T_TMP/st.sh"
	in_ns "$T_TMP/st.sh"
	check "a script run by a static interpreter: refused (126)" [ $? -eq 126 ]
else
	echo "skip static program: no libc.a"
fi
cp /bin/true "$T_TMP/suid-true"
chown nobody "$T_TMP/suid-true" && chmod 4755 "$T_TMP/suid-true"
"$RUN" "$T_TMP/suid-true" >"$O" 2>"$E"
check "set-user-ID program: runs (0)" [ $? -eq 0 ]
check "set-user-ID program: warned that it is not routed" \
    has 'is set-user-ID: the loader ignores LD_PRELOAD' "$E"
in_ns "$T_TMP/nonexistent"
check "no such program: 127" [ $? -eq 127 ]
in_ns no-such-command-here
check "command not found: 127" [ $? -eq 127 ] && check "command not found: said" has 'no-such-command-here: command not found' "$E"
in_ns -S "$T_TMP/none.sock" true
check "daemon not reachable: 3" [ $? -eq 3 ]
check "daemon not reachable: said" has 'cpconnectd not reachable at' "$E"
in_ns
check "no program: usage (2)" [ $? -eq 2 ]
in_ns --bogus true
check "unknown option: usage (2)" [ $? -eq 2 ]
in_ns sh -c 'exit 7'
check "the program's own exit status" [ $? -eq 7 ]
"$RUN" -V >"$O" 2>&1
check "-V: the version" has '^cpconnect-run [0-9]' "$O"

# ---- what a program notices: the probe ----
# A sanitizer build links the probe with the ASan runtime, which then
# comes after the preload; it works, ASan only has to be told.
if [ -n "${SAN:-}" ]; then
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
	export ASAN_OPTIONS
fi
in_ns -v "$PROBE" "$PE" "$PR" "$PD" web.test
rc=$?
n_ok=$(grep -c '^ok ' "$O")
n_bad=$(grep -c '^FAIL ' "$O")
T_PASS=$((T_PASS + n_ok))
T_FAIL=$((T_FAIL + n_bad))
grep '^FAIL ' "$O"
check "probe: ran to the end ($n_ok checks)" [ $rc -eq 0 ] && [ "$n_ok" -ge 50 ]
finish
