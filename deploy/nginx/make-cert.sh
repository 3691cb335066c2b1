#!/usr/bin/env bash
# Makes a local certificate authority and, signed by it, a certificate for
# 127.0.0.1 and localhost into DIR/tls/ (default: deploy/nginx), for the
# local gateway: emporium.crt and emporium.key for nginx, ca.crt for clients
# to trust (curl --cacert, the drills' --ca). The CA's key is not kept.
# Production uses real certificates.
# Usage: deploy/nginx/make-cert.sh [DIR]
set -euo pipefail
dir=${1:-$(dirname "$0")}
tls=$dir/tls
mkdir -p "$tls"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=Emporium local CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$work/ca.key" -out "$tls/ca.crt" 2> /dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
  -keyout "$tls/emporium.key" -out "$work/emporium.csr" 2> /dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > "$work/ext"
openssl x509 -req -in "$work/emporium.csr" -CA "$tls/ca.crt" -CAkey "$work/ca.key" \
  -CAcreateserial -days 30 -extfile "$work/ext" -out "$tls/emporium.crt" 2> /dev/null
chmod 600 "$tls/emporium.key"
echo "$tls/ca.crt"
