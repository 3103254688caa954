# SPDX-License-Identifier: ISC
# Helpers for integration scripts: sourced, not run.
#   check NAME CMD...    passes when CMD exits 0
#   ok NAME / bad NAME   record a result
#   finish               stops the daemon (t_daemon) and checks its log,
#                        prints "tests: N passed, M failed" and exits
B=${B:-build}
T_LOGDIR=${TESTLOG:-$B/tests/log}
T_NAME=$(basename "$0" .sh)
T_NDLOG=0
T_PASS=0
T_FAIL=0
T_TMP=$(mktemp -d /tmp/cpit.XXXXXX)
T_PIDS=
ok() { T_PASS=$((T_PASS + 1)); echo "ok   $*"; }
bad() { T_FAIL=$((T_FAIL + 1)); echo "FAIL $*"; }
check() {
	n=$1
	shift
	if "$@"; then ok "$n"; else bad "$n"; fi
}
bg() { "$@" & T_PIDS="$T_PIDS $!"; }
cleanup() {
	for p in $T_PIDS; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T_TMP"
}
trap cleanup EXIT
finish() {
	t_daemon_stop
	echo "tests: $T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ]
	exit $?
}
# wait_for CMD...: retry for up to 5 s
wait_for() {
	i=0
	while [ $i -lt 100 ]; do
		"$@" 2>/dev/null && return 0
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}

# ---- helpers for the daemon, PKI and server scripts ----
# t_port: a candidate loopback port in 20000..59999 in T_PORT.
t_port() {
	T_PORT=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
}
# t_daemon CONF_TEXT [ARGS...]: start $B/cpconnectd -d on $T_TMP/d.sock with
# CONF_TEXT as its configuration; waits for the socket, exports
# CPCONNECT_SOCKET.  Log in $T_TMP/d.log.  Returns 1 when it did not start.
t_daemon() {
	t_daemon_stop
	printf '%s' "$1" >"$T_TMP/d.conf"
	shift
	T_SOCK=$T_TMP/d.sock
	bg "$B/cpconnectd" -d -f "$T_TMP/d.conf" -s "$T_SOCK" "$@" \
	    >"$T_TMP/d.log" 2>&1
	T_DPID=$!
	CPCONNECT_SOCKET=$T_SOCK
	export CPCONNECT_SOCKET
	wait_for test -S "$T_SOCK"
}
# t_alive PID: running, not a zombie waiting for us.
t_alive() {
	[ -r "/proc/$1/status" ] && ! grep -q '^State:.*Z' "/proc/$1/status"
}
# t_log_alarms LOG: print the lines that say the daemon misbehaved, whatever
# the script checked: a sanitizer report, or an engine killed by a crash
# signal (4 ILL, 6 ABRT, 7 BUS, 8 FPE, 11 SEGV, 31 SYS; SIGKILL and SIGTERM
# are what tests send on purpose).  Status 0 when there is one.
t_log_alarms() {
	grep -E 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|killed by signal (4|6|7|8|11|31)([^0-9]|$)' "$1"
}
# t_daemon_stop: stop the daemon of t_daemon (SIGTERM; engines drain for
# at most 5 s, so SIGKILL after 10), then check its whole log; a bad one is
# kept as $T_LOGDIR/<script>.daemon<N>.log.  Nothing when none runs.
t_daemon_stop() {
	[ -n "${T_DPID:-}" ] || return 0
	kill "$T_DPID" 2>/dev/null
	_i=0
	while t_alive "$T_DPID" && [ $_i -lt 200 ]; do
		sleep 0.05
		_i=$((_i + 1))
	done
	t_alive "$T_DPID" && kill -9 "$T_DPID" 2>/dev/null
	wait "$T_DPID" 2>/dev/null
	T_DPID=
	if t_log_alarms "$T_TMP/d.log" >"$T_TMP/alarms"; then
		T_NDLOG=$((T_NDLOG + 1))
		_kept=$T_LOGDIR/$T_NAME.daemon$T_NDLOG.log
		mkdir -p "$T_LOGDIR" && cp "$T_TMP/d.log" "$_kept" &&
		    sh tests/symbolize.sh "$_kept"
		bad "daemon log: no sanitizer report, no engine crash" \
		    "(kept: $_kept)"
		head -n 5 "$T_TMP/alarms" | sed 's/^/    /'
	else
		ok "daemon log: no sanitizer report, no engine crash"
	fi
}
# t_pki: the test PKI in $T_TMP/pki (T_PKI).
t_pki() {
	T_PKI=$T_TMP/pki
	sh tests/pki/mkpki.sh "$T_PKI" >"$T_TMP/pki.log" 2>&1
}
# t_server LOG CMD...: start CMD (whose arguments may contain @PORT@) on
# free ports until one stays up and prints "ACCEPT" into LOG (at most 10
# tries); the port in T_PORT, the pid in T_SPID.  Returns 1 on failure.
t_server() {
	_log=$1
	shift
	_try=0
	while [ $_try -lt 10 ]; do
		_try=$((_try + 1))
		t_port
		: >"$_log"
		_args=
		for _a in "$@"; do
			_args="$_args '$(printf '%s' "$_a" |
			    sed -e "s/@PORT@/$T_PORT/g" -e "s/'/'\\\\''/g")'"
		done
		eval "bg $_args" >"$_log" 2>&1 </dev/null
		T_SPID=$!
		_i=0
		while [ $_i -lt 100 ]; do
			grep -q ACCEPT "$_log" 2>/dev/null && return 0
			kill -0 "$T_SPID" 2>/dev/null || break
			sleep 0.05
			_i=$((_i + 1))
		done
		kill "$T_SPID" 2>/dev/null
	done
	return 1
}
# t_tls_server LOG CERTNAME ARGS...: openssl s_server on 127.0.0.1 with
# $T_PKI/CERTNAME.pem, its key and the intermediate; ARGS such as -www or
# -rev.
t_tls_server() {
	_l=$1
	_c=$2
	shift 2
	t_server "$_l" openssl s_server -accept 127.0.0.1:@PORT@ \
	    -cert "$T_PKI/$_c.pem" -cert_chain "$T_PKI/int.pem" \
	    -key "$T_PKI/$_c.key" "$@"
}
# t_echo_server LOG: a plain TCP echo server on 127.0.0.1 (perl, from
# perl-base, which Debian always has), one process per connection.
t_echo_server() {
	t_server "$1" perl -MIO::Socket::INET -e '
		my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
		    LocalPort => $ARGV[0], Listen => 16, ReuseAddr => 1)
		    or exit 1;
		$SIG{CHLD} = "IGNORE";
		$| = 1;
		print "ACCEPT\n";
		while (my $c = $s->accept) {
			if (fork == 0) {
				my $b;
				while (sysread($c, $b, 65536)) {
					syswrite($c, $b);
				}
				exit 0;
			}
			close $c;
		}' @PORT@
}
