#!/bin/sh
# SPDX-License-Identifier: ISC
# mkrevoke.sh PKI DIR: revocation material for the test PKI that
# tests/pki/mkpki.sh made in PKI, written to DIR with the openssl CLI
# (openssl ca, openssl ocsp; faketime for a response that has expired).
#
# Certificates (NAME.pem, NAME.key, NAME-chain.pem = leaf + issuer), all
# with the names of mkpki.sh's "valid":
#   good        leaf of PKI/int.pem, never revoked
#   revoked     leaf of PKI/int.pem, revoked
#   must        leaf of PKI/int.pem with the TLS Feature status_request
#               (must-staple)
#   responder   a delegated OCSP responder of PKI/int.pem (id-kp-OCSPSigning)
#   int2        a second intermediate of PKI/root.pem, revoked by the root
#   leaf2       leaf of int2 (leaf2-chain.pem: leaf2 + int2)
# OCSP responses (DER, for openssl s_server -status_file):
#   good.ocsp            good, for good.pem, signed by int
#   good-delegated.ocsp  good, for good.pem, signed by responder
#   revoked.ocsp         revoked, for revoked.pem, signed by int
#   must.ocsp            good, for must.pem
#   expired.ocsp         good, for good.pem, made three days ago, next
#                        update two days ago
#   wrongkey.ocsp        good, for good.pem, signed by PKI/unknown.pem
#   notresponder.ocsp    good, for good.pem, signed by PKI/valid.pem (issued
#                        by int, but not for OCSP signing)
#   badsig.ocsp          good, for good.pem, signature corrupted
#   other.ocsp           good, for must.pem: served with good.pem it is a
#                        response for another certificate
#   unknown.ocsp         unknown, for valid.pem (a copy of PKI/valid.pem,
#                        which int's database does not list)
# CRLs (PEM unless .der):
#   int-empty.crl     int's CRL before anything was revoked
#   int.crl           int's CRL: revoked.pem
#   int.crl.der       the same in DER
#   root.crl          the root's CRL: int2
#   int2.crl          int2's CRL, nothing revoked
#   chain-ok.crl      int.crl + the root's CRL before int2 was revoked
#   chain-bad.crl     int2.crl + root.crl
#   broken.crl        a PEM CRL block whose content is not a CRL
set -eu

[ $# -eq 2 ] || { echo "usage: $0 PKI DIR" >&2; exit 2; }
PKI=$(cd "$1" && pwd)
mkdir -p "$2"
DIR=$(cd "$2" && pwd)
cd "$DIR"
umask 022

NAMES="DNS:localhost,DNS:test.example,IP:127.0.0.1,IP:::1"
cp "$PKI/root.pem" "$PKI/int.pem" .

cat >openssl.cnf <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[intca]
database = int-index.txt
new_certs_dir = newcerts
serial = int-serial
default_md = sha256
policy = anything
unique_subject = no
email_in_dn = no
copy_extensions = none
[rootca]
database = root-index.txt
new_certs_dir = newcerts
serial = root-serial
default_md = sha256
policy = anything
unique_subject = no
email_in_dn = no
copy_extensions = none
[anything]
commonName = supplied
[int_ext]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
CNF
mkdir -p newcerts
: >int-index.txt
: >root-index.txt
echo 3000 >int-serial
echo 5000 >root-serial

eckey() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$1" 2>/dev/null
	chmod 600 "$1"
}

# issue NAME CA(intca|rootca) ISSUER.pem ISSUER.key EXTFILE
issue() {
	eckey "$1.key"
	openssl req -config openssl.cnf -new -key "$1.key" \
	    -subj "/CN=$1.cpconnect.test" -out "$1.csr"
	openssl ca -config openssl.cnf -name "$2" -batch -notext -md sha256 \
	    -cert "$3" -keyfile "$4" -in "$1.csr" -days 3650 \
	    -extfile "$5" -out "$1.pem" 2>/dev/null
	cat "$1.pem" "$3" >"$1-chain.pem"
}

leafext() {
	{
		echo "basicConstraints = critical,CA:FALSE"
		echo "keyUsage = critical,digitalSignature"
		echo "extendedKeyUsage = serverAuth"
		echo "subjectKeyIdentifier = hash"
		echo "authorityKeyIdentifier = keyid:always"
		echo "subjectAltName = $NAMES"
		[ -z "${2:-}" ] || echo "$2"
	} >"$1"
}

leafext leaf.ext
leafext must.ext "tlsfeature = status_request"
printf '%s\n' "basicConstraints = critical,CA:FALSE" \
    "keyUsage = critical,digitalSignature" \
    "extendedKeyUsage = OCSPSigning" >responder.ext
printf '%s\n' "basicConstraints = critical,CA:TRUE,pathlen:0" \
    "keyUsage = critical,keyCertSign,cRLSign" \
    "subjectKeyIdentifier = hash" \
    "authorityKeyIdentifier = keyid:always" >int2.ext

issue good intca int.pem "$PKI/int.key" leaf.ext
issue revoked intca int.pem "$PKI/int.key" leaf.ext
issue must intca int.pem "$PKI/int.key" must.ext
issue responder intca int.pem "$PKI/int.key" responder.ext
issue int2 rootca root.pem "$PKI/root.key" int2.ext
# int2's leaves go in a database of their own, so int's OCSP index and
# CRL list only int's.
: >int2-index.txt
echo 7000 >int2-serial
sed -e 's/^database = int-index.txt/database = int2-index.txt/' \
    -e 's/^serial = int-serial/serial = int2-serial/' openssl.cnf >int2.cnf
eckey leaf2.key
openssl req -config openssl.cnf -new -key leaf2.key \
    -subj "/CN=leaf2.cpconnect.test" -out leaf2.csr
openssl ca -config int2.cnf -name intca -batch -notext -md sha256 \
    -cert int2.pem -keyfile int2.key -in leaf2.csr -days 3650 \
    -extfile leaf.ext -out leaf2.pem 2>/dev/null
cat leaf2.pem int2.pem >leaf2-chain.pem

gencrl() { # NAME CA ISSUER KEY OUT
	openssl ca -config openssl.cnf -name "$2" -gencrl -crldays 30 \
	    -md sha256 -cert "$3" -keyfile "$4" -out "$5" 2>/dev/null
}

gencrl int-empty intca int.pem "$PKI/int.key" int-empty.crl
gencrl root-empty rootca root.pem "$PKI/root.key" root-empty.crl
openssl ca -config openssl.cnf -name intca -revoke revoked.pem \
    -cert int.pem -keyfile "$PKI/int.key" 2>/dev/null
openssl ca -config openssl.cnf -name rootca -revoke int2.pem \
    -cert root.pem -keyfile "$PKI/root.key" 2>/dev/null
gencrl int intca int.pem "$PKI/int.key" int.crl
openssl crl -in int.crl -outform DER -out int.crl.der
gencrl root rootca root.pem "$PKI/root.key" root.crl
openssl ca -config int2.cnf -name intca -gencrl -crldays 30 -md sha256 \
    -cert int2.pem -keyfile int2.key -out int2.crl 2>/dev/null
cat int.crl root-empty.crl >chain-ok.crl
cat int2.crl root.crl >chain-bad.crl
printf '%s\n' "-----BEGIN X509 CRL-----" \
    "MIIBszCBnAIBATANBgkqhkiG9w0BAQsFADAQMQ4wDAYDVQQDDAV0ZXN0Mx" \
    "-----END X509 CRL-----" >broken.crl

# ocsp OUT CERT SIGNER SIGNERKEY [openssl ocsp options]
ocsp() {
	out=$1 cert=$2 signer=$3 key=$4
	shift 4
	openssl ocsp -index int-index.txt -CA int.pem -issuer int.pem \
	    -cert "$cert" -rsigner "$signer" -rkey "$key" -ndays 7 \
	    -respout "$out" "$@" >/dev/null 2>&1
}

ocsp good.ocsp good.pem int.pem "$PKI/int.key"
ocsp good-delegated.ocsp good.pem responder.pem responder.key
ocsp revoked.ocsp revoked.pem int.pem "$PKI/int.key"
ocsp must.ocsp must.pem int.pem "$PKI/int.key"
cp must.ocsp other.ocsp
ocsp wrongkey.ocsp good.pem "$PKI/unknown.pem" "$PKI/unknown.key"
ocsp notresponder.ocsp good.pem "$PKI/valid.pem" "$PKI/valid.key"
ocsp badsig.ocsp good.pem int.pem "$PKI/int.key" -badsig
cp "$PKI/valid.pem" "$PKI/valid.key" .
ocsp unknown.ocsp valid.pem int.pem "$PKI/int.key"
# thisUpdate three days ago, nextUpdate one day later.
faketime -f '-3d' openssl ocsp -index int-index.txt -CA int.pem \
    -issuer int.pem -cert good.pem -rsigner int.pem -rkey "$PKI/int.key" \
    -ndays 1 -respout expired.ocsp >/dev/null 2>&1

for f in good good-delegated revoked must expired wrongkey notresponder \
    badsig unknown; do
	[ -s "$f.ocsp" ] || { echo "mkrevoke: $f.ocsp not made" >&2; exit 1; }
done
rm -f ./*.csr
