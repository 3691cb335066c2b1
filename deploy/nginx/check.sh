#!/usr/bin/env bash
# Checks the gateway's configuration with `nginx -t` in a throw-away prefix
# (a fresh self-signed certificate, the example upstreams), as an
# unprivileged nginx would run it. Needs nginx (apt-get install nginx-light)
# and openssl.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
mkdir -p "$prefix/logs" "$prefix/cache"
cp "$here/emporium.conf" "$here/upstreams.conf" "$prefix/"
bash "$here/make-cert.sh" "$prefix" > /dev/null
cat > "$prefix/nginx.conf" <<CONF
worker_processes 1;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $prefix/tmp_body;
    proxy_temp_path $prefix/tmp_proxy;
    include emporium.conf;
}
CONF
"$(command -v nginx || echo /usr/sbin/nginx)" -t -p "$prefix" -c "$prefix/nginx.conf"
