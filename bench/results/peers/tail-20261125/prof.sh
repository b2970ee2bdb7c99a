#!/bin/bash
# perf profile of HAProxy and edgeway under the same HTTP/1.1 load (harness pinning).
set -u
S=/work/scratch/s45; D=/work/scratch/s42; B=/work/main/.cache/bin
DPBIN=${DPBIN:-$B/edgeway-dataplane}
cleanup(){ [ -f $S/hap.pid ] && kill $(cat $S/hap.pid) 2>/dev/null; rm -f $S/hap.pid; pkill -f "peer-backend"; pkill -f "$S/dpbin"; pkill -f "peer-xds -config-dir $S"; while pgrep -f "peer-xds -config-dir $S|peer-backend|$S/dpbin" >/dev/null; do sleep 0.2; done; }
cleanup
cp -f $DPBIN $S/dpbin
taskset -c 1 $B/peer-backend -http a=127.0.0.1:29001 -http b=127.0.0.1:29002 -https tls=127.0.0.1:29003 -cert $D/cert-and-key.pem -key $D/cert-and-key.pem >$S/be.log 2>&1 &
taskset -c 1 $B/peer-xds -config-dir $S/dp/e/config -xds-address 127.0.0.1:29490 > $S/xds.log 2>&1 &
(cd $S/dp/e && env HOME=$S/dp/e GOMAXPROCS=1 ${DP_ENV:-} taskset -c 0 $S/dpbin --xds-server 127.0.0.1:29490 --admin-address 127.0.0.1:29491 --access-log off > dp.log 2>&1 &)
taskset -c 0 haproxy -f $D/haproxy.cfg -D -p $S/hap.pid
for k in $(seq 50); do c1=$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:29400/); c2=$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:29430/); [ "$c1$c2" = 200200 ] && break; sleep 0.2; done
echo "check $c1 $c2"
for t in ${ORD:-hap:29430 edge:29400}; do
  n=${t%%:*}; p=${t##*:}
  if [ $n = hap ]; then pid=$(cat $S/hap.pid); else pid=$(pgrep -f "$S/dpbin --xds"); fi
  taskset -c 1 wrk -t1 -c64 -d1s http://127.0.0.1:$p/ >/dev/null
  taskset -c 1 wrk -t1 -c64 -d9s --latency http://127.0.0.1:$p/ > $S/wrk-$n.txt &
  sleep 2
  t0=$(awk '{print $14, $15}' /proc/$pid/stat)
  perf record -F 4999 -e cpu-clock -g -p $pid -o $S/perf-$n.data -- sleep 5 2>/dev/null >/dev/null
  t1=$(awk '{print $14, $15}' /proc/$pid/stat)
  sleep 3
  echo "$n utime,stime ticks: $t0 -> $t1"; grep -E "Requests/sec|^ +99%|^ +50%" $S/wrk-$n.txt
done
cleanup
