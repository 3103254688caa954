#!/bin/sh
# SPDX-License-Identifier: ISC
# Install the Debian packages cpconnect needs to build and test, if missing.
set -eu
PKGS="build-essential pkg-config libssl-dev openssl libsystemd-dev
libseccomp-dev libcunit1-dev libc-ares-dev gnutls-bin nginx-light mandoc
iproute2 util-linux systemd procps"
# The shipped example's ca-file, which the examples suite checks.
PKGS="$PKGS ca-certificates"
# The VM suite (tests/vm/) boots Debian kernels that have TLS.
PKGS="$PKGS qemu-system-x86 busybox-static cpio xz-utils"
# The revocation tests make an OCSP response dated in the past.
PKGS="$PKGS faketime"
# cpconnect-run's tests run these unmodified programs.
PKGS="$PKGS curl wget git netcat-openbsd python3"
# Upstream proxies the proxy tests start on loopback (test_proxyd).
PKGS="$PKGS tinyproxy microsocks"
# cpconnect --starttls is tested against a real IMAP and POP3 server.
PKGS="$PKGS dovecot-imapd dovecot-pop3d"
# Packaging tools: only for make deb and make deb-check (deps.sh deb).
DEB_PKGS="dpkg-dev debhelper lintian fakeroot"
if [ "${1:-}" = deb ]; then
	PKGS="$PKGS $DEB_PKGS"
fi
missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
if [ "$(id -u)" = 0 ]; then
	SUDO=
elif command -v sudo >/dev/null 2>&1; then
	SUDO=sudo
else
	echo "deps: missing packages:$missing; run as root: apt-get install$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
