#!/bin/bash
# tls-newconn by hand, alternated rounds: nginx, the data plane with the handshake turn's
# network poll off (A, EDGEWAY_NO_POLL_TURN=1) and on (B), the same binary. wrk -t1 -c64
# 'Connection: close' and the new-connection probe (peerbench connprobe, 20 ms) on core 1 with
# the backend; each proxy on core 0 (GOMAXPROCS=1, one nginx worker).
set -u
S=/work/scratch/s49; B=/work/main/.cache/bin; DP=${DP:-$S/dp-poll}
cleanup(){ [ -f $S/nginx/nginx.pid ] && kill $(cat $S/nginx/nginx.pid) 2>/dev/null; pkill -f "peer-backend -http a=127.0.0.1:29001"; pkill -f "peer-xds -config-dir $S"; pkill -f "$DP --xds-server"; sleep 1; }
cleanup
taskset -c 1 env GOMAXPROCS=1 $B/peer-backend -http a=127.0.0.1:29001 -http b=127.0.0.1:29002 -https tls=127.0.0.1:29003 -cert $S/cert.pem -key $S/key.pem > $S/be.log 2>&1 &
declare -A PID PORT
for v in A B; do
  x=$([ $v = A ] && echo 294 || echo 295)
  taskset -c 1 $B/peer-xds -config-dir $S/$v/config -xds-address 127.0.0.1:${x}11 > $S/xds-$v.log 2>&1 &
  noflag=$([ $v = A ] && echo 1 || echo 0)
  (cd $S/$v && env HOME=$S/$v XDG_DATA_HOME=$S/$v XDG_CONFIG_HOME=$S/$v GOMAXPROCS=1 EDGEWAY_NO_POLL_TURN=$noflag taskset -c 0 $DP --xds-server 127.0.0.1:${x}11 --admin-address 127.0.0.1:${x}10 --access-log off > $S/dp-$v.log 2>&1 &)
  PORT[$v]=${x}02
done
taskset -c 0 nginx -c $S/nginx/nginx.conf &
PORT[ngx]=29102
sleep 2
PID[A]=$(pgrep -f "EDGEWAY_NO_POLL_TURN=1" | head -1); PID[A]=$(pgrep -f "$DP --xds-server 127.0.0.1:29411"); PID[B]=$(pgrep -f "$DP --xds-server 127.0.0.1:29511"); PID[ngx]=$(pgrep -f "nginx: worker")
for v in ngx A B; do for k in $(seq 50); do c=$(curl -sk -o /dev/null -w "%{http_code}" https://localhost:${PORT[$v]}/); [ "$c" = 200 ] && break; sleep 0.2; done; echo "check $v ${PORT[$v]} $c pid ${PID[$v]}"; done
ticks(){ awk '{print $14+$15}' /proc/$1/stat; }
ord="ngx A B"
for r in $(seq ${ROUNDS:-6}); do
  set -- $ord; k=$(( (r-1) % $# )); o2="${@:$((k+1))} ${@:1:$k}"
  for n in $o2; do
    p=${PORT[$n]}; pid=${PID[$n]}
    taskset -c 1 wrk -t1 -c64 -d1s -H 'Connection: close' https://localhost:$p/ >/dev/null
    t0=$(ticks $pid)
    taskset -c 1 $B/peerbench connprobe -url https://localhost:$p/ -ca $S/cert.pem -every 20ms -delay 500ms -for ${PF:-7s} > $S/probe.json 2>&1 &
    pp=$!
    taskset -c 1 wrk -t1 -c64 -d${DUR:-8}s --latency -H 'Connection: close' https://localhost:$p/ > $S/o.txt 2>&1
    t1=$(ticks $pid); wait $pp; cp $S/probe.json $S/pr-${TAG:-x}-$r-$n.json
    reqs=$(awk '/requests in/{print $1}' $S/o.txt); rps=$(awk '/Requests\/sec/{print $2}' $S/o.txt)
    p50=$(awk '$1=="50%"{print $2}' $S/o.txt); p99=$(awk '$1=="99%"{print $2}' $S/o.txt)
    echo "round $r $n rps=$rps cpu_us=$(awk -v a=$t0 -v b=$t1 -v r=$reqs 'BEGIN{printf "%.2f", (b-a)*10000/r}') wrk_p50=$p50 wrk_p99=$p99 probe=$(python3 -c "
import json,sys;d=json.load(open('$S/probe.json'));t=sorted(d.get('totals_us',[]));h=d.get('handshakes_us',[]);a=sorted(x-y for x,y in zip(d.get('totals_us',[]),h));import math
q=lambda v,p: v[max(0,math.ceil(len(v)*p)-1)]/1000 if v else 0
print(f\"n={d['count']},err={d['errors']},p50={q(t,.5):.2f},p90={q(t,.9):.2f},p99={q(t,.99):.2f},after_p50={q(a,.5):.2f},after_p99={q(a,.99):.2f}\")")"
  done
done
cleanup
