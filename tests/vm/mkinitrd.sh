#!/bin/sh
# SPDX-License-Identifier: ISC
# mkinitrd.sh BUILD MODULEDIR OUT: the VM suite's initramfs for one kernel.
#
# Contents: busybox (static), the project's daemon (and its test build,
# for the sandbox probe), CLI and VM test programs with every shared
# library ldd names, the openssl binary, the
# test PKI, tls.ko and the crypto modules the kernel's TLS asks for
# (decompressed, with a load order from their depends= fields; there is no
# modprobe in the VM), /etc/passwd with nobody, and tests/vm/init.sh as
# /init, which runs tests/vm/guest.sh.
set -eu

[ $# -eq 3 ] || { echo "usage: $0 BUILD MODULEDIR OUT" >&2; exit 2; }
B=$(cd "$1" && pwd)
MODDIR=$2
OUT=$3
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(mktemp -d "${TMPDIR:-/tmp}/cpvm-root.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT INT TERM

# Modules the kernel's TLS needs for the three AEADs; names that a kernel
# does not have (built in, or renamed) are skipped.
WANT="tls gcm ctr ghash_generic ghash_clmulni_intel aesni_intel
chacha20poly1305 chacha_generic chacha chacha_x86_64 poly1305_generic
poly1305_x86_64"

chmod 755 "$ROOT"
mkdir -p "$ROOT"/bin "$ROOT"/sbin "$ROOT"/etc "$ROOT"/lib/modules \
    "$ROOT"/proc "$ROOT"/sys "$ROOT"/dev "$ROOT"/tmp "$ROOT"/run \
    "$ROOT"/root "$ROOT"/vm "$ROOT"/usr/lib/ssl

# copy_bin FILE: the program and its shared libraries, at the same paths.
copy_bin() {
	mkdir -p "$ROOT$(dirname "$1")"
	cp -L "$1" "$ROOT$1"
	ldd "$1" 2>/dev/null | awk '/=>/ { print $3 } /^\t\// { print $1 }' |
	    while read -r lib; do
		[ -f "$lib" ] || continue
		[ -f "$ROOT$lib" ] && continue
		mkdir -p "$ROOT$(dirname "$lib")"
		cp -L "$lib" "$ROOT$lib"
	done
}

cp /bin/busybox "$ROOT/bin/busybox"
for f in "$B/cpconnectd" "$B/tests/cpconnectd-hooks" "$B/cpconnect" \
    "$B"/vm/bin/*; do
	copy_bin "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"
	ln -sf "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" \
	    "$ROOT/vm/$(basename "$f")"
done
copy_bin "$(command -v openssl)"
cp -L /etc/ssl/openssl.cnf "$ROOT/usr/lib/ssl/openssl.cnf"

cat >"$ROOT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$ROOT/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
printf 'hosts: files\npasswd: files\ngroup: files\n' >"$ROOT/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n' >"$ROOT/etc/hosts"

sh "$HERE/../pki/mkpki.sh" "$B/vm/pki" >/dev/null
mkdir -p "$ROOT/pki"
cp "$B"/vm/pki/*.pem "$B"/vm/pki/*.key "$ROOT/pki/"

# Modules: an index of name -> file, then the depends= closure of WANT,
# dependencies first.
IDX=$ROOT/.modidx
find "$MODDIR/kernel/net/tls" "$MODDIR/kernel/crypto" \
    "$MODDIR/kernel/arch/x86/crypto" "$MODDIR/kernel/lib" \
    -name '*.ko*' 2>/dev/null | while read -r f; do
	n=$(basename "$f" | sed 's/\.ko.*$//; s/-/_/g')
	echo "$n $f"
done >"$IDX"
modfile() { awk -v n="$1" '$1 == n { print $2; exit }' "$IDX"; }
moddeps() {
	case "$1" in
	*.xz) xz -dc "$1" ;;
	*.zst) zstd -dcq "$1" ;;
	*.gz) gzip -dc "$1" ;;
	*) cat "$1" ;;
	esac | strings | sed -n 's/^depends=//p' | tr ',' ' '
}
ORDER=
visit() {
	case " $ORDER " in *" $1 "*) return 0 ;; esac
	_f=$(modfile "$1")
	[ -n "$_f" ] || return 0
	for _d in $(moddeps "$_f"); do
		visit "$(echo "$_d" | tr - _)"
	done
	ORDER="$ORDER $1"
}
for m in $WANT; do
	visit "$m"
done
case " $ORDER " in *" tls "*) ;; *)
	echo "mkinitrd: no tls module in $MODDIR" >&2
	exit 1 ;;
esac
for m in $ORDER; do
	f=$(modfile "$m")
	case "$f" in
	*.xz) xz -dc "$f" ;;
	*.zst) zstd -dcq "$f" ;;
	*.gz) gzip -dc "$f" ;;
	*) cat "$f" ;;
	esac >"$ROOT/lib/modules/$m.ko"
done
echo "$ORDER" >"$ROOT/lib/modules/order"
rm -f "$IDX"

cp "$HERE/init.sh" "$ROOT/init"
cp "$HERE/guest.sh" "$ROOT/vm/guest.sh"
chmod 755 "$ROOT/init"
(cd "$ROOT" && find . | cpio -o -H newc --quiet | gzip -1) >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
