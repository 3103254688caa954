# Helpers for integration scripts: sourced, not run.
#   check NAME CMD...    passes when CMD exits 0
#   ok NAME / bad NAME   record a result
#   finish               prints "tests: N passed, M failed" and exits
B=${B:-build}
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
