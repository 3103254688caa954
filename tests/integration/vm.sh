#!/bin/sh
# SPDX-License-Identifier: ISC
# Kernel TLS on real kernels: the VM suite (tests/vm/run.sh), which boots
# Debian's 6.12 and a newer kernel under qemu.  Prints "vm: N passed, M
# failed".  Not under SAN=1: sanitized binaries under an emulated CPU
# would take several times the CI budget, and the VM suite tests the
# kernel's side, which the sanitizers do not see.
cd "$(dirname "$0")/../.." || exit 2
if [ "${SAN:-}" = 1 ]; then
	echo "vm: not run under SAN=1 (make check without SAN runs it)"
	echo "vm: 0 passed, 0 failed"
	exit 0
fi
exec sh tests/vm/run.sh
