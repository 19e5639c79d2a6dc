#!/bin/sh
# SPDX-License-Identifier: MIT
# make certs: a local CA and the certificates chapter 13's TLS listeners
# need, all PEM, made with the openssl command line (docs/13_tls.md).
#
#   sh tools/certs.sh [DIR]     (default ./certs; ignored by git)
#
#   DIR/ca.pem, ca.key          the local certificate authority
#   DIR/broker.pem              broker key + certificate (ssl.keystore.location)
#                               for 127.0.0.1 / localhost (SAN IP and DNS)
#   DIR/broker.key, broker.crt  the same two parts apart (ssl.keystore.key and
#                               ssl.keystore.certificate.chain)
#   DIR/broker1.pem .. broker3.pem  one per node of config/cluster-secure/
#                               (CN=broker1..3, same SANs; key + certificate):
#                               each node is its own principal, User:CN=brokerN,O=samsa
#   DIR/alice.key, alice.crt    client certificates, CN=alice and CN=bob,
#   DIR/bob.key, bob.crt        for mutual TLS (ssl.client.auth=required)
#
# Keys are unencrypted RSA 2048 (a test CA; keep real keys encrypted and use
# ssl.key.password). Certificates last DAYS days (default 825).
set -eu
dir=${1:-certs}
days=${DAYS:-825}
mkdir -p "$dir"
cd "$dir"
umask 077

# The CA: self-signed, allowed to sign certificates.
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
    -subj "/O=samsa/CN=samsa local CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.pem 2>/dev/null

# sign NAME SUBJECT EXTFILE: a key, a request, a certificate signed by the CA.
sign() {
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "$2" \
        -keyout "$1.key" -out "$1.csr" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
        -days "$days" -sha256 -extfile "$3" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr"
}

# The broker: a server certificate clients verify against 127.0.0.1/localhost,
# and the client certificate it presents when it dials another node's SSL
# controller or inter-broker listener (hence clientAuth too).
cat > broker.ext <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EXT
sign broker "/O=samsa/CN=localhost" broker.ext
cat broker.key broker.crt > broker.pem
for n in 1 2 3; do
    sign "broker$n" "/O=samsa/CN=broker$n" broker.ext
    cat "broker$n.key" "broker$n.crt" > "broker$n.pem"
    rm -f "broker$n.key" "broker$n.crt"
done

# Two clients for mutual TLS; their subjects become User:CN=alice,O=samsa.
cat > client.ext <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
EXT
sign alice "/O=samsa/CN=alice" client.ext
sign bob "/O=samsa/CN=bob" client.ext
rm -f broker.ext client.ext ca.srl
chmod 644 ca.pem broker.crt alice.crt bob.crt
echo "certificates in $(pwd): ca.pem broker.pem broker1..3.pem alice.crt/.key bob.crt/.key"
