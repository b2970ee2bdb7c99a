#!/bin/bash
# h2load --h1 per-request log + sched_switch on both cores with realtime clock, one proxy at a time.
set -u
S=/work/scratch/s45; D=/work/scratch/s42; B=/work/main/.cache/bin
DPBIN=${DPBIN:-$S/dp-env}
cleanup(){ [ -f $S/hap.pid ] && kill $(cat $S/hap.pid) 2>/dev/null; rm -f $S/hap.pid; pkill -f "peer-backend"; pkill -f "$S/dpbin"; pkill -f "peer-xds -config-dir $S"; while pgrep -f "peer-xds -config-dir $S|peer-backend|$S/dpbin" >/dev/null; do sleep 0.2; done; }
cleanup
cp -f $DPBIN $S/dpbin
env ${BE_ENV:-} taskset -c 1 $B/peer-backend -http a=127.0.0.1:29001 -http b=127.0.0.1:29002 >$S/be.log 2>&1 &
taskset -c 1 $B/peer-xds -config-dir $S/dp/e/config -xds-address 127.0.0.1:29490 > $S/xds.log 2>&1 &
(cd $S/dp/e && env HOME=$S/dp/e GOMAXPROCS=1 ${DP_ENV:-} taskset -c 0 $S/dpbin --xds-server 127.0.0.1:29490 --admin-address 127.0.0.1:29491 --access-log off > dp.log 2>&1 &)
taskset -c 0 haproxy -f $D/haproxy.cfg -D -p $S/hap.pid
for k in $(seq 50); do c1=$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:29400/); c2=$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:29430/); [ "$c1$c2" = 200200 ] && break; sleep 0.2; done
for t in ${ORD:-hap:29430 edge:29400}; do
  n=${t%%:*}; p=${t##*:}
  rm -f $S/corr-$n.log
  taskset -c 1 h2load --h1 -t1 -c64 -D 1 http://127.0.0.1:$p/ >/dev/null 2>&1
  taskset -c 1 h2load --h1 -t1 -c64 -D 5 --log-file=$S/corr-$n.log http://127.0.0.1:$p/ 2>&1 | grep -E "finished in" & hp=$!
  sleep 1
  python3 -c "import time; print(time.time()-time.clock_gettime(time.CLOCK_MONOTONIC))" > $S/corr-$n.off; perf record -e sched:sched_switch -a -k mono -o $S/corr-$n.data -- sleep 3 >/dev/null 2>&1
  wait $hp
done
cleanup
