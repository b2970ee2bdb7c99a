#!/usr/bin/env bash
# Starts the demo backends and edgeway standalone on this directory.
# Used by `make run`; Ctrl-C stops both.
set -euo pipefail
bin=${1:-bin}
dir=$(cd "$(dirname "$0")" && pwd)
"$bin/demo-backends" -http blue=127.0.0.1:9101 -http green=127.0.0.1:9102 -http admin=127.0.0.1:9103 \
  -tls secure=127.0.0.1:9104 -tcp tcp-echo=127.0.0.1:9105 &
backends=$!
trap 'kill $backends 2>/dev/null || true' EXIT
cat <<'TXT'

edgeway is starting on examples/quickstart. Try, in another terminal:

  curl -s http://localhost:8080/                       # 90/10 canary: blue or green (see "backend")
  for i in $(seq 20); do curl -s http://localhost:8080/ | grep backend; done | sort | uniq -c
  curl -s http://localhost:8080/green/hello            # prefix rewrite + X-Canary header, to green
  curl -s -H 'x-env: staging' http://localhost:8080/   # header match, to green
  curl -si http://localhost:8080/login                 # 302 redirect to https://app.example.com:8443/login
  curl -sk --resolve app.example.com:8443:127.0.0.1 https://app.example.com:8443/      # HTTPS, app certificate
  curl -sk --resolve admin.example.com:8443:127.0.0.1 https://admin.example.com:8443/  # HTTPS, admin certificate (SNI)
  openssl s_client -connect 127.0.0.1:9443 -servername secure.example.com </dev/null 2>/dev/null | grep subject
                                                       # TLS passthrough: the backend's own certificate
  bash -c 'exec 3<>/dev/tcp/127.0.0.1/9000; echo hello >&3; head -n1 <&3'   # TCP (bash alone, no netcat)
  curl -s http://127.0.0.1:19000/api/status            # status of every Gateway and route (or: bin/edgeway status)

Edit examples/quickstart/*.yaml while it runs: changes apply on save.

TXT
"$bin/edgeway" standalone --config-dir "$dir"
