#!/bin/sh
# SPDX-License-Identifier: ISC
# certseeds.sh DIR: seeds for fuzz_cert in DIR, the DER of certificates of
# every key type a server may send: the test PKI's (ECDSA P-256 and RSA
# 2048 leaves, CAs, wildcard, CN-only, 1000 names), and self-signed
# Ed25519, RSA-PSS and P-384 ones made here.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
OUT=$1
W=$(mktemp -d "${TMPDIR:-/tmp}/certseeds.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
sh "$(dirname "$0")/../pki/mkpki.sh" "$W/pki" >/dev/null
mkdir -p "$OUT"
for n in valid valid-rsa int root wildcard cnonly ipsan selfsigned big; do
	openssl x509 -in "$W/pki/$n.pem" -outform DER -out "$OUT/pki-$n"
done
selfsigned() {
	openssl req -x509 -newkey "$2" $3 -nodes -keyout "$W/$1.key" \
	    -subj /CN=fuzz.example -addext subjectAltName=DNS:fuzz.example \
	    -days 36500 -outform DER -out "$OUT/self-$1" 2>/dev/null
}
selfsigned ed25519 ed25519 ""
selfsigned rsapss rsa-pss "-pkeyopt rsa_keygen_bits:2048"
selfsigned p384 ec "-pkeyopt ec_paramgen_curve:P-384"
