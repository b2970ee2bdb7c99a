#!/bin/sh
# by hand: backend, nginx and edgeway from the harness's generated configuration (run 20261126T152948Z)
W=/tmp/peerbench-2537465560; B=/work/main/.cache/bin
taskset -c 1 env GOMAXPROCS=1 $B/peer-backend -http a=127.0.0.1:28001 -http b=127.0.0.1:28002 -https tls=127.0.0.1:28003 -h2 h2=127.0.0.1:28004 -stats 127.0.0.1:28005 -cert $W/cert.pem -key $W/key.pem -body-size 64 > backend.log 2>&1 &
taskset -c 0 nginx -c $W/nginx/nginx.conf > nginx.log 2>&1 &
taskset -c 1 $B/peer-xds -config-dir $W/edgeway/config -xds-address 127.0.0.1:28411 > xds.log 2>&1 &
sleep 1
taskset -c 0 env GOMAXPROCS=1 ${EW:-$B/edgeway-dataplane} --xds-server 127.0.0.1:28411 --admin-address 127.0.0.1:28410 --access-log off > ew.log 2>&1 &
sleep 2
