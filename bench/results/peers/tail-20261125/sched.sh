#!/bin/bash
# perf sched on both cores under HTTP/1.1 load, HAProxy vs edgeway.
set -u
S=/work/scratch/s45; D=/work/scratch/s42; B=/work/main/.cache/bin
DPBIN=${DPBIN:-$B/edgeway-dataplane}
cleanup(){ [ -f $S/hap.pid ] && kill $(cat $S/hap.pid) 2>/dev/null; rm -f $S/hap.pid; pkill -f "peer-backend"; pkill -f "$S/dpbin"; pkill -f "peer-xds -config-dir $S"; while pgrep -f "peer-xds -config-dir $S|peer-backend|$S/dpbin" >/dev/null; do sleep 0.2; done; }
cleanup
cp -f $DPBIN $S/dpbin
env ${BE_ENV:-} taskset -c 1 $B/peer-backend -http a=127.0.0.1:29001 -http b=127.0.0.1:29002 >$S/be.log 2>&1 &
taskset -c 1 $B/peer-xds -config-dir $S/dp/e/config -xds-address 127.0.0.1:29490 > $S/xds.log 2>&1 &
(cd $S/dp/e && env HOME=$S/dp/e GOMAXPROCS=1 ${DP_ENV:-} taskset -c 0 $S/dpbin --xds-server 127.0.0.1:29490 --admin-address 127.0.0.1:29491 --access-log off > dp.log 2>&1 &)
taskset -c 0 haproxy -f $D/haproxy.cfg -D -p $S/hap.pid
for k in $(seq 50); do c1=$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:29400/); c2=$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:29430/); [ "$c1$c2" = 200200 ] && break; sleep 0.2; done
echo "check $c1 $c2"
for t in ${ORD:-hap:29430 edge:29400}; do
  n=${t%%:*}; p=${t##*:}
  taskset -c 1 wrk -t1 -c64 -d1s http://127.0.0.1:$p/ >/dev/null
  taskset -c 1 wrk -t1 -c64 -d6s --latency -s /work/scratch/s44/pct.lua http://127.0.0.1:$p/ > $S/sched-wrk-$n.txt &
  sleep 2
  perf sched record -o $S/sched-$n.data -- sleep 1 >/dev/null 2>&1
  sleep 2.5
  grep PCT $S/sched-wrk-$n.txt
done
cleanup
