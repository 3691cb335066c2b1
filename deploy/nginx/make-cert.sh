#!/usr/bin/env bash
# Makes a self-signed certificate for 127.0.0.1 and localhost into DIR/tls/
# (default: deploy/nginx), for the local gateway. Production uses real ones.
# Usage: deploy/nginx/make-cert.sh [DIR]
set -euo pipefail
dir=${1:-$(dirname "$0")}
mkdir -p "$dir/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$dir/tls/emporium.key" -out "$dir/tls/emporium.crt" 2>/dev/null
chmod 600 "$dir/tls/emporium.key"
echo "$dir/tls/emporium.crt"
