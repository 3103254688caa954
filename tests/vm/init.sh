#!/bin/busybox sh
# SPDX-License-Identifier: ISC
# /init of the VM suite's initramfs: mounts, loopback, the TLS modules,
# then /vm/guest.sh with the kernel's name (old|new) from the command line
# (cpvm=NAME); every result line goes to the serial console.  Powers off.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# /tmp and /run stay the initramfs's own (writable already): the binaries
# sit at their build paths, which may be under either.
ip link set lo up
name=unknown
for a in $(cat /proc/cmdline); do
	case "$a" in
	cpvm=*) name=${a#cpvm=} ;;
	cpdebug) export VMT_DEBUG=1 ;;
	esac
done
if [ "$name" = probe ]; then
	echo "VMT probe ok"
	poweroff -f
fi
echo "VMT boot $name $(uname -r)"
for m in $(cat /lib/modules/order); do
	insmod "/lib/modules/$m.ko" 2>/tmp/insmod.err ||
		echo "VMT note $name insmod $m: $(cat /tmp/insmod.err)"
done
t0=$(date +%s)
cd /vm && sh ./guest.sh "$name"
echo "VMT end $name, tests took $(($(date +%s) - t0)) s"
sync
poweroff -f
echo o >/proc/sysrq-trigger
sleep 5
