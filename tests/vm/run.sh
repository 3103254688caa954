#!/bin/sh
# SPDX-License-Identifier: ISC
# run.sh: the VM suite, on the host.  Kernel TLS needs a kernel that has it,
# which the build machine's does not: each of two Debian kernels (see
# kernels.sh) boots under qemu with an initramfs of the project's binaries
# (mkinitrd.sh), runs guest.sh, and prints its results on the serial
# console; they are counted here.  Ends with "vm: N passed, M failed".
#
# A kernel that cannot be fetched is a failure, said loudly: the suite
# never passes without having run.  Downloads, unpacked kernels and
# initramfs images live in $B/vm/.  One VM at a time, 1 CPU, 512 MiB;
# KVM when /dev/kvm works, else TCG.
B=${B:-build}
cd "$(dirname "$0")/../.." || exit 2
VM=$B/vm
LOG=$VM/log
mkdir -p "$LOG"
pass=0 fail=0
VM_TIMEOUT=${VM_TIMEOUT:-300}

loud() {
	echo "FAIL $*"
	echo "vm: ######## $* ########" >&2
	fail=$((fail + 1))
}

command -v qemu-system-x86_64 >/dev/null || {
	loud "qemu-system-x86_64 missing (scripts/deps.sh installs qemu-system-x86)"
	echo "vm: $pass passed, $fail failed"
	exit 1
}
for p in "$B/cpconnectd" "$B/tests/cpconnectd-hooks" "$B/cpconnect" \
    "$B/vm/bin/vm_client"; do
	[ -x "$p" ] || loud "$p not built (make tests)"
done

sh tests/vm/kernels.sh "$VM/kernels" >"$LOG/kernels.out" 2>"$LOG/kernels.err"
grep -q '^KERNEL old ' "$LOG/kernels.out" ||
	loud "no Debian 12 kernel 6.12 (bookworm-security): $(tr '\n' ' ' <"$LOG/kernels.err")"
grep -q '^KERNEL new ' "$LOG/kernels.out" ||
	loud "no kernel that can re-key TLS 1.3 (Linux >= 6.14) could be fetched: $(tr '\n' ' ' <"$LOG/kernels.err")"

# KVM where it works: /dev/kvm may exist and still refuse a CPU model
# (nested virtualisation), so each candidate boots once (init.sh answers
# cpvm=probe at once); TCG is the last resort.
accel() {
	for _a in "kvm -cpu host" "kvm -cpu max"; do
		[ -w /dev/kvm ] || break
		# (a refused CPU model makes qemu abort: the shell's "Aborted"
		# goes to /dev/null with the rest)
		# shellcheck disable=SC2086
		{ timeout -k 2 20 qemu-system-x86_64 -accel $_a -m 512 -smp 1 \
		    -nographic -no-reboot -kernel "$1" -initrd "$2" \
		    -append "console=ttyS0 quiet loglevel=1 panic=-1 cpvm=probe" \
		    </dev/null 2>&1 | tr -d '\r' | grep -q '^VMT probe ok'; } \
		    2>/dev/null && { echo "-accel $_a"; return; }
	done
	echo "-accel tcg -cpu max"
}

ACCEL=${VM_ACCEL:-}

boot() {
	_name=$1 _rel=$2 _vmlinuz=$3 _moddir=$4
	_img=$VM/initrd-$_name.cpio.gz
	_con=$LOG/$_name.console
	if ! sh tests/vm/mkinitrd.sh "$B" "$_moddir" "$_img" >"$LOG/$_name.mkinitrd" 2>&1; then
		loud "initramfs for $_rel: $(tail -n 3 "$LOG/$_name.mkinitrd" | tr '\n' ' ')"
		return
	fi
	[ -n "$ACCEL" ] || ACCEL=$(accel "$_vmlinuz" "$_img")
	_t0=$(date +%s)
	# shellcheck disable=SC2086
	timeout -k 5 "$VM_TIMEOUT" qemu-system-x86_64 $ACCEL -m 512 -smp "${VM_SMP:-1}" \
	    -nographic -no-reboot -kernel "$_vmlinuz" -initrd "$_img" \
	    -append "console=ttyS0 quiet loglevel=1 panic=-1 cpvm=$_name ${VM_APPEND:-}" \
	    </dev/null >"$_con" 2>&1
	_rc=$?
	tr -d '\r' <"$_con" >"$_con.txt"
	echo "vm $_name: Linux $_rel, $ACCEL, $(($(date +%s) - _t0)) s"
	grep -E '^VMT (ok|FAIL|info|note) ' "$_con.txt" | sed 's/^VMT //'
	_p=$(grep -c "^VMT ok $_name " "$_con.txt")
	_f=$(grep -c "^VMT FAIL $_name " "$_con.txt")
	pass=$((pass + _p))
	fail=$((fail + _f))
	if ! grep -q "^VMT complete $_name" "$_con.txt"; then
		loud "VM $_name did not finish (qemu exit $_rc); see $_con.txt"
		tail -n 15 "$_con.txt" | sed 's/^/    /'
	fi
}

while read -r tag name rel vmlinuz moddir; do
	[ "$tag" = KERNEL ] || continue
	[ -z "${VM_ONLY:-}" ] || [ "$VM_ONLY" = "$name" ] || continue
	boot "$name" "$rel" "$vmlinuz" "$moddir"
done <"$LOG/kernels.out"

echo "vm: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
