#!/bin/bash
# Mixed load: HTTP/1.1 keep-alive (wrk -c64, measured) while new TLS connections arrive
# (wrk -c$NC with Connection: close to the https listener); nginx, HAProxy and two edgeway builds alternated.
set -u
S=/work/scratch/s47; B=/work/main/.cache/bin
cleanup(){ [ -f $S/hap.pid ] && kill $(cat $S/hap.pid) 2>/dev/null; rm -f $S/hap.pid; pkill -f "nginx -c $S/nginx.conf"; pkill -f "peer-backend -http a=127.0.0.1:29001"; pkill -f "$S/dpbin"; pkill -f "peer-xds -config-dir $S"; while pgrep -f "peer-xds -config-dir $S|peer-backend -http a=127.0.0.1:29001|$S/dpbin|nginx -c $S" >/dev/null; do sleep 0.2; done; }
cleanup
cp -f ${ABIN:-$S/dp-base} $S/dpbinA; cp -f ${BBIN:-$S/dp-turns} $S/dpbinB
taskset -c 1 env GOMAXPROCS=1 $B/peer-backend -http a=127.0.0.1:29001 -http b=127.0.0.1:29002 -https tls=127.0.0.1:29003 -cert $S/cert.pem -key $S/key.pem >$S/be.log 2>&1 &
for X in A:7 B:8; do n=${X%%:*}; d=${X##*:}
  taskset -c 1 $B/peer-xds -config-dir $S/$n/config -xds-address 127.0.0.1:29${d}92 > $S/$n/xds.log 2>&1 &
  (cd $S/$n && env HOME=$S/$n XDG_DATA_HOME=$S/$n XDG_CONFIG_HOME=$S/$n GOMAXPROCS=1 taskset -c 0 $S/dpbin$n --xds-server 127.0.0.1:29${d}92 --admin-address 127.0.0.1:29${d}82 --access-log off > dp.log 2>&1 &)
done
taskset -c 0 haproxy -f $S/haproxy.cfg -D -p $S/hap.pid
taskset -c 0 nginx -c $S/nginx.conf &
sleep 1.5
ord="${ORD:-ngx:29720:29722 hap:29730:29732 A:29700:29702 B:29800:29802}"
for t in $ord; do IFS=: read n hp sp <<< "$t"; echo "check $n $(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:$hp/) $(curl -sk -o /dev/null -w "%{http_code}" https://localhost:$sp/)"; done
DUR=${DUR:-6}
for r in $(seq ${ROUNDS:-4}); do
  set -- $ord; k=$(( (r-1) % $# )); o2="${@:$((k+1))} ${@:1:$k}"
  [ $((r%2)) = 0 ] && o2=$(echo $o2 | awk '{for(i=NF;i>0;i--) printf "%s ", $i}')
  for t in $o2; do
    IFS=: read n hp sp <<< "$t"
    taskset -c 1 wrk -t1 -c64 -d1s http://127.0.0.1:$hp/ >/dev/null
    taskset -c 1 wrk -t1 -c${NC:-8} -d$((DUR+2))s --timeout 5s -H "Connection: close" https://localhost:$sp/ > $S/bg.txt 2>&1 &
    bg=$!
    sleep 1
    taskset -c 1 wrk -t1 -c64 -d${DUR}s --latency -s $S/pct.lua http://127.0.0.1:$hp/ > $S/o.txt 2>&1
    while kill -0 $bg 2>/dev/null; do sleep 0.1; done
    echo "round $r $n rps=$(awk '/Requests\/sec/{print $2}' $S/o.txt) newconn_rps=$(awk '/Requests\/sec/{print $2}' $S/bg.txt) $(grep ^PCT $S/o.txt)"
  done
done
cleanup
