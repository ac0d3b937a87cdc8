#!/usr/bin/env bash
# Makes a development signing key and certificate for RAUC bundles (docs/ota.md), with openssl:
#   DIR/ca.key.pem, DIR/ca.cert.pem   a self-signed development CA (the keyring boxes and the hub trust)
#   DIR/signing.key.pem, DIR/signing.cert.pem   the key `rauc bundle` signs with, issued by that CA
# Never commit these: DIR defaults to a fresh temporary directory, printed on the last line.
# Usage: scripts/ota-dev-key.sh [DIR] [COMMON_NAME]
# The Yocto layer's lectern-bundle recipe and the image's keyring take these paths
# (RAUC_KEY_FILE, RAUC_CERT_FILE, RAUC_KEYRING_FILE in local.conf; yocto/meta-lectern/README.md).
set -euo pipefail

dir=${1:-$(mktemp -d -t lectern-ota-key.XXXXXX)}
cn=${2:-Lectern development}
mkdir -p "$dir"
chmod 700 "$dir"
cd "$dir"
if [[ -e signing.key.pem ]]; then
    echo "error: $dir already holds a signing key; choose another directory" >&2
    exit 1
fi

cat >openssl.cnf <<CNF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = $cn
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF

umask 077
openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -config openssl.cnf -extensions v3_ca \
    -subj "/CN=$cn CA" -keyout ca.key.pem -out ca.cert.pem 2>/dev/null
openssl req -newkey rsa:3072 -nodes -config openssl.cnf -subj "/CN=$cn signing" \
    -keyout signing.key.pem -out signing.csr.pem 2>/dev/null
openssl x509 -req -days 3650 -in signing.csr.pem -CA ca.cert.pem -CAkey ca.key.pem -CAcreateserial \
    -extfile openssl.cnf -extensions v3_leaf -out signing.cert.pem 2>/dev/null
rm -f signing.csr.pem ca.cert.srl
chmod 644 ca.cert.pem signing.cert.pem
echo "development keyring (ca.cert.pem), signing key and certificate in:"
echo "$dir"
