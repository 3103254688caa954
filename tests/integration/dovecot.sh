#!/bin/sh
# SPDX-License-Identifier: ISC
# cpconnect --starttls imap and pop3 against a real server: Debian's
# dovecot, started by the test on loopback with a configuration of its
# own (the test PKI, no mail, nothing else of the system's).  That the
# commands travelled under TLS shows twice: dovecot stops offering
# STARTTLS (STLS) once TLS is on, and its log marks the session TLS.
cd "$(dirname "$0")/../.." || exit 2
. tests/lib.sh

CP=$B/cpconnect
DOVECOT=/usr/sbin/dovecot
[ -x "$DOVECOT" ] || { bad "dovecot not installed (scripts/deps.sh)"; finish; }
check "test PKI generated" t_pki
check "daemon started" t_daemon "user nobody
allow from any to 127.0.0.0/8
allow from any to localhost
ca-file \"$T_PKI/ca.pem\"
"
O=$T_TMP/out
E=$T_TMP/err
run() { timeout 20 "$CP" "$@" >"$O" 2>"$E"; }
DV=$T_TMP/dovecot
mkdir -p "$DV/run" "$DV/state"
cat "$T_PKI/valid.pem" "$T_PKI/int.pem" >"$DV/chain.pem"
# Run as root it drops to Debian's dovecot and dovenull users; otherwise
# everything runs as the caller.
if [ "$(id -u)" = 0 ]; then
	USERS=
else
	USERS="default_internal_user = $(id -un)
default_internal_group = $(id -gn)
default_login_user = $(id -un)"
fi
# greets PORT RE: a plain connection through the daemon gets a first line
# matching RE; stdin stays open (no EOF) until it came.
greets() {
	kill -0 "$DVPID" 2>/dev/null || return 1
	sleep 1 | timeout 2 "$CP" 127.0.0.1 "$1" 2>/dev/null | head -n 1 |
	    grep -q "$2"
}
# dialogue CMD...: the dialogue's lines come one per 0.2 s, the last one
# makes the server close; an EOF right behind the commands races them (a
# login process may take the EOF first and drop the rest unanswered).
dialogue() {
	for _l in "$@"; do
		printf '%s\r\n' "$_l"
		sleep 0.2
	done
	sleep 3
}
# has RE: cpconnect's output has a line matching RE; if not, what it
# printed is shown for the reader of a failing check.
has() {
	grep -q "$1" "$O" && return 0
	sed 's/^/    | /' "$O" "$E" | head -n 20
	return 1
}
# dovecot_start: on two free ports, at most 5 tries; DPIMAP, DPPOP3.
dovecot_start() {
	_try=0
	while [ $_try -lt 5 ]; do
		_try=$((_try + 1))
		t_port
		DPIMAP=$T_PORT
		DPPOP3=$((T_PORT + 1))
		cat >"$DV/dovecot.conf" <<EOC
base_dir = $DV/run
state_dir = $DV/state
log_path = $DV/dovecot.log
instance_name = cptest$$
protocols = imap pop3
listen = 127.0.0.1
$USERS
ssl = required
ssl_cert = <$DV/chain.pem
ssl_key = <$T_PKI/valid.key
ssl_min_protocol = TLSv1.2
auth_mechanisms = plain
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$DV/home
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $DPIMAP
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $DPPOP3
  }
  inet_listener pop3s {
    port = 0
  }
}
service anvil {
  chroot =
}
EOC
		: >"$DV/dovecot.log" # an attempt that lost its port is no error
		bg "$DOVECOT" -F -c "$DV/dovecot.conf"
		DVPID=$!
		# Up once both ports greet through the daemon.  The greeting,
		# not a bare connect: a port some other program held answers a
		# connect too, while this dovecot has died of EADDRINUSE.
		_up=0
		while [ $_up -lt 30 ] && ! greets "$DPIMAP" '^\* OK'; do
			kill -0 "$DVPID" 2>/dev/null || break
			sleep 0.2
			_up=$((_up + 1))
		done
		if greets "$DPIMAP" '^\* OK' &&
		    greets "$DPPOP3" '^+OK'; then
			return 0
		fi
		kill "$DVPID" 2>/dev/null
		wait "$DVPID" 2>/dev/null
	done
	return 1
}
check "dovecot started" dovecot_start
[ -n "${DVPID:-}" ] || finish

dialogue 'a1 CAPABILITY' 'a2 LOGOUT' | run --starttls imap localhost "$DPIMAP"
check "imap: exit 0" [ $? -eq 0 ]
check "imap: CAPABILITY answered" grep -q '^a1 OK' "$O"
check "imap: STARTTLS no longer offered: under TLS" \
    sh -c "grep -q '^\* CAPABILITY' '$O' && ! grep -q STARTTLS '$O'"
check "imap: logged out" grep -q '^a2 OK' "$O"
check "imap: dovecot logged the session as TLS" \
    wait_for grep -q 'imap-login: .*, TLS, session=' "$DV/dovecot.log"
run -j --starttls imap localhost "$DPIMAP" </dev/null
check "imap --json: starttls imap, verify 0" \
    grep -q '"starttls":"imap".*"verify_result":0,' "$O"
# The same in plaintext: STARTTLS is offered there.
dialogue 'a1 CAPABILITY' 'a2 LOGOUT' | run 127.0.0.1 "$DPIMAP"
check "imap plaintext: STARTTLS offered" has '^\* CAPABILITY.*STARTTLS' 

dialogue CAPA QUIT | run --starttls pop3 localhost "$DPPOP3"
check "pop3: exit 0" [ $? -eq 0 ]
check "pop3: capabilities listed" grep -q '^SASL PLAIN' "$O"
check "pop3: STLS no longer offered: under TLS" sh -c "! grep -q '^STLS' '$O'"
check "pop3: signed off" grep -q '^+OK Logging out' "$O"
check "pop3: dovecot logged the session as TLS" \
    wait_for grep -q 'pop3-login: .*, TLS, session=' "$DV/dovecot.log"
dialogue CAPA QUIT | run 127.0.0.1 "$DPPOP3"
check "pop3 plaintext: STLS offered" has '^STLS' 

# SMTP's dialogue against dovecot's IMAP port: the greeting is refused.
echo x | run --starttls smtp localhost "$DPIMAP"
check "smtp dialogue on an IMAP server: exit 6" [ $? -eq 6 ]
check "smtp dialogue on an IMAP server: not an SMTP reply" \
    grep -q 'not an SMTP reply' "$E"

kill "$DVPID" 2>/dev/null
wait "$DVPID" 2>/dev/null
check "dovecot log: no errors" sh -c "! grep -qi 'fatal\|panic' '$DV/dovecot.log'"
finish
