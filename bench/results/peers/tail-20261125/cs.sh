#!/bin/bash
# HTTP/1.1 by hand, HAProxy vs edgeway: wrk's and the backend's context switches per request.
set -u
S=/work/scratch/s45; D=/work/scratch/s42; B=/work/main/.cache/bin
DPBIN=${DPBIN:-$B/edgeway-dataplane}
cleanup(){ [ -f $S/hap.pid ] && kill $(cat $S/hap.pid) 2>/dev/null; rm -f $S/hap.pid; pkill -f "peer-backend"; pkill -f "$S/dpbin"; pkill -f "peer-xds -config-dir $S"; while pgrep -f "peer-xds -config-dir $S|peer-backend|$S/dpbin" >/dev/null; do sleep 0.2; done; }
cleanup
cp -f $DPBIN $S/dpbin
taskset -c 1 $B/peer-backend -http a=127.0.0.1:29001 -http b=127.0.0.1:29002 >$S/be.log 2>&1 &
taskset -c 1 $B/peer-xds -config-dir $S/dp/e/config -xds-address 127.0.0.1:29490 > $S/xds.log 2>&1 &
(cd $S/dp/e && env HOME=$S/dp/e GOMAXPROCS=1 ${DP_ENV:-} taskset -c 0 $S/dpbin --xds-server 127.0.0.1:29490 --admin-address 127.0.0.1:29491 --access-log off > dp.log 2>&1 &)
taskset -c 0 haproxy -f $D/haproxy.cfg -D -p $S/hap.pid
for k in $(seq 50); do c1=$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:29400/); c2=$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:29430/); [ "$c1$c2" = 200200 ] && break; sleep 0.2; done
echo "check $c1 $c2"
bepid=$(pgrep -f "peer-backend -http")
cs(){ awk '/^voluntary/{v=$2} /^nonvoluntary/{n=$2} END{print v, n}' /proc/$1/status; }
sumcs(){ v=0; n=0; for t in /proc/$1/task/*; do read a b < <(awk '/^voluntary/{v=$2} /^nonvoluntary/{n=$2} END{print v, n}' $t/status); v=$((v+a)); n=$((n+b)); done; echo $v $n; }
for r in $(seq ${ROUNDS:-4}); do
  ord="${ORD:-hap:29430 edge:29400}"; [ $((r%2)) = 0 ] && ord=$(echo $ord | awk '{for(i=NF;i>0;i--) printf "%s ", $i}')
  for t in $ord; do
    n=${t%%:*}; p=${t##*:}
    taskset -c 1 wrk -t1 -c64 -d1s http://127.0.0.1:$p/ >/dev/null
    b0=$(sumcs $bepid)
    taskset -c 1 wrk -t1 -c64 -d${DUR:-6}s --latency -s /work/scratch/s44/pct.lua http://127.0.0.1:$p/ > $S/o.txt &
    sleep 0.3; wp=$(pgrep -f "wrk -t1 -c64 -d${DUR:-6}s"); w0=$(sumcs $wp)
    sleep $((${DUR:-6}-1)).5
    w1=$(sumcs $wp); b1=$(sumcs $bepid)
    while pgrep -f "wrk -t1 -c64 -d${DUR:-6}s" >/dev/null; do sleep 0.1; done
    out=$(cat $S/o.txt)
    rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
    p50=$(echo "$out" | awk '$1=="50%"{print $2}'); p90=$(echo "$out" | awk '$1=="90%"{print $2}'); p99=$(echo "$out" | awk '$1=="99%"{print $2}')
    el=$((${DUR:-6}-1)).2
    echo "$r $n rps=$rps p50=$p50 p90=$p90 p99=$p99 wrk_vol,invol/kreq=$(awk -v a="$w0" -v b="$w1" -v r=$rps -v e=$el 'BEGIN{split(a,x," ");split(b,y," "); printf "%.1f,%.1f", (y[1]-x[1])*1000/(r*e), (y[2]-x[2])*1000/(r*e)}') be_vol,invol/kreq=$(awk -v a="$b0" -v b="$b1" -v r=$rps -v e=${DUR:-6} 'BEGIN{split(a,x," ");split(b,y," "); printf "%.1f,%.1f", (y[1]-x[1])*1000/(r*e), (y[2]-x[2])*1000/(r*e)}') $(echo "$out" | grep ^PCT)"
  done
done
cleanup
