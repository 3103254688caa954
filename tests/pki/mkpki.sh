#!/bin/sh
# SPDX-License-Identifier: ISC
# mkpki.sh DIR: generate the cpconnect test PKI into DIR with the openssl CLI.
#
# Files (every leaf NAME has NAME.key, NAME.pem = the leaf alone, which is
# also the "missing intermediate" case, and NAME-chain.pem = leaf followed
# by its issuer):
#   ca.pem            trust bundle: the root only
#   root.pem/.key     root CA (ECDSA P-256)
#   int.pem/.key      intermediate CA, signed by the root
#   unknown.pem/.key  another root, not in ca.pem
#   valid             ECDSA P-256; SAN DNS:localhost, DNS:test.example,
#                     IP:127.0.0.1, IP:::1
#   valid-rsa         the same names, RSA 2048
#   expired           valid names; 2000-01-01 .. 2001-01-01
#   notyet            valid names; 2099-01-01 .. 2100-01-01
#   wrongname         SAN DNS:wrong.example only
#   wildcard          SAN DNS:*.wild.test
#   ipsan             SAN IP:127.0.0.1 only
#   cnonly            no SAN, subject CN=localhost
#   selfsigned        self-signed leaf with the valid names (chain = leaf)
#   unknownca         valid names, signed by unknown.pem (chain: + unknown)
#   big               valid names plus 1000 more: DER above 16 KiB
# Leaves are signed by int.pem unless stated.  All leaves have the subject
# CN=<NAME>.cpconnect.test except cnonly.
#
# Idempotent: a complete DIR (stamp file .complete) is left alone; anything
# else is regenerated from scratch in a temporary directory and moved in.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
DIR=$1
STAMP=cpconnect-pki-2
if [ -f "$DIR/.complete" ] && [ "$(cat "$DIR/.complete")" = "$STAMP" ]; then
	exit 0
fi
mkdir -p "$DIR"
W=$(mktemp -d "$DIR/.work.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
cd "$W"
umask 077

NAMES="DNS:localhost,DNS:test.example,IP:127.0.0.1,IP:::1"

cat >openssl.cnf <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
default_ca = testca
[testca]
database = index.txt
new_certs_dir = newcerts
serial = serial
default_md = sha256
policy = anything
unique_subject = no
email_in_dn = no
copy_extensions = none
[anything]
commonName = supplied
[root_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[int_ext]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
CNF
mkdir newcerts
: >index.txt
echo 1000 >serial

eckey() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$1" 2>/dev/null
}

# root NAME: self-signed CA
root() {
	eckey "$1.key"
	openssl req -config openssl.cnf -new -x509 -key "$1.key" -sha256 \
	    -days 3650 -subj "/CN=cpconnect test $1" -extensions root_ext \
	    -out "$1.pem"
}

# ext FILE SAN [ku]: leaf extensions
ext() {
	{
		echo "basicConstraints = critical,CA:FALSE"
		echo "keyUsage = critical,${3:-digitalSignature}"
		echo "extendedKeyUsage = serverAuth"
		echo "subjectKeyIdentifier = hash"
		echo "authorityKeyIdentifier = keyid:always"
		if [ -n "$2" ]; then
			echo "subjectAltName = $2"
		fi
	} >"$1"
}

# leaf NAME ISSUER SAN [KEYTYPE [START END [CN]]]
leaf() {
	name=$1 issuer=$2 san=$3 ktype=${4:-ec} start=${5:-} end=${6:-}
	cn=${7:-$name.cpconnect.test}
	ku=digitalSignature
	if [ "$ktype" = rsa ]; then
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
		    -out "$name.key" 2>/dev/null
		ku=digitalSignature,keyEncipherment
	else
		eckey "$name.key"
	fi
	openssl req -config openssl.cnf -new -key "$name.key" -subj "/CN=$cn" \
	    -out "$name.csr"
	ext "$name.ext" "$san" "$ku"
	if [ -z "$start" ]; then
		start=$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)
		end=$(date -u -d '+3650 days' +%Y%m%d%H%M%SZ)
	fi
	openssl ca -config openssl.cnf -batch -notext -md sha256 \
	    -cert "$issuer.pem" -keyfile "$issuer.key" -in "$name.csr" \
	    -startdate "$start" -enddate "$end" -extfile "$name.ext" \
	    -out "$name.pem" 2>/dev/null
	cat "$name.pem" "$issuer.pem" >"$name-chain.pem"
}

root root
root unknown
eckey int.key
openssl req -config openssl.cnf -new -key int.key \
    -subj "/CN=cpconnect test intermediate" -out int.csr
openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -sha256 \
    -set_serial 2 -days 3650 -extfile openssl.cnf -extensions int_ext \
    -out int.pem 2>/dev/null
cp root.pem ca.pem

leaf valid int "$NAMES"
leaf valid-rsa int "$NAMES" rsa
leaf expired int "$NAMES" ec 20000101000000Z 20010101000000Z
leaf notyet int "$NAMES" ec 20990101000000Z 21000101000000Z
leaf wrongname int "DNS:wrong.example"
leaf wildcard int "DNS:*.wild.test"
leaf ipsan int "IP:127.0.0.1"
leaf cnonly int "" ec "" "" localhost
leaf unknownca unknown "$NAMES"
i=0 many=$NAMES
while [ $i -lt 1000 ]; do
	many="$many,DNS:name$i.big.test"
	i=$((i + 1))
done
leaf big int "$many"

# A self-signed end-entity certificate: no CA bit, no keyCertSign.
eckey selfsigned.key
openssl req -config openssl.cnf -new -x509 -key selfsigned.key -sha256 \
    -days 3650 -subj "/CN=selfsigned.cpconnect.test" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" \
    -addext "extendedKeyUsage=serverAuth" \
    -addext "subjectAltName=$NAMES" -out selfsigned.pem
cp selfsigned.pem selfsigned-chain.pem

chmod 644 ./*.pem
chmod 600 ./*.key
for f in ./*.pem ./*.key; do
	mv -f "$f" "$DIR/"
done
echo "$STAMP" >"$DIR/.complete"
