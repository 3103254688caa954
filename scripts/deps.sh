#!/bin/sh
# Install the Debian packages cpconnect needs to build and test, if missing.
# qemu-system-x86, busybox-static and cpio run the VM suite (tests/vm/),
# which boots Debian kernels that have TLS.
set -eu
PKGS="build-essential pkg-config libssl-dev openssl libbsd-dev libsystemd-dev
libseccomp-dev libcunit1-dev libc-ares-dev gnutls-bin nginx-light mandoc
iproute2 util-linux systemd procps
qemu-system-x86 busybox-static cpio xz-utils"
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
