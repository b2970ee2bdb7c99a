#!/bin/sh
# by hand: backend, nginx, haproxy and edgeway from run 20261126T181400Z's generated configuration
W=/tmp/peerbench-2971631190; B=/work/main/.cache/bin
setsid nohup taskset -c 1 env GOMAXPROCS=1 $B/peer-backend -http a=127.0.0.1:28001 -http b=127.0.0.1:28002 -https tls=127.0.0.1:28003 -h2 h2=127.0.0.1:28004 -stats 127.0.0.1:28005 -cert $W/cert.pem -key $W/key.pem -body-size 64 > backend.log 2>&1 < /dev/null &
setsid nohup taskset -c 0 nginx -c $W/nginx/nginx.conf > nginx.log 2>&1 < /dev/null &
setsid nohup taskset -c 0 haproxy -db -f $W/haproxy/haproxy.cfg > haproxy.log 2>&1 < /dev/null &
setsid nohup taskset -c 1 $B/peer-xds -config-dir $W/edgeway/config -xds-address 127.0.0.1:28411 > xds.log 2>&1 < /dev/null &
sleep 1
setsid nohup taskset -c 0 env GOMAXPROCS=1 $B/edgeway-dataplane --xds-server 127.0.0.1:28411 --admin-address 127.0.0.1:28410 --access-log off > ew.log 2>&1 < /dev/null &
sleep 2
