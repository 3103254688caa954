#!/bin/sh
# Kernel TLS on real kernels: the VM suite (tests/vm/run.sh), which boots
# Debian's 6.12 and a newer kernel under qemu.  Prints "vm: N passed, M
# failed".
cd "$(dirname "$0")/../.." || exit 2
exec sh tests/vm/run.sh
