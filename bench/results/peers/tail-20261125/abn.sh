#!/bin/bash
# N data plane variants (one binary, env per variant) and HAProxy, HTTP/1.1, alternated; wrk/backend switches.
# BIN, V0_ENV.. V3_ENV (set NV), ROUNDS, DUR
set -u
S=/work/scratch/s45; D=/work/scratch/s42; B=/work/main/.cache/bin
NV=${NV:-2}
cleanup(){ [ -f $S/hap.pid ] && kill $(cat $S/hap.pid) 2>/dev/null; rm -f $S/hap.pid; pkill -f "peer-backend"; pkill -f "$S/dpvbin"; pkill -f "peer-xds -config-dir $S"; while pgrep -f "peer-xds -config-dir $S|peer-backend|$S/dpvbin" >/dev/null; do sleep 0.2; done; }
cleanup
for i in $(seq 0 $((NV-1))); do bv=V${i}_BIN; cp -f ${!bv:-$BIN} $S/dpvbin$i; done
env ${BE_ENV:-} taskset -c 1 $B/peer-backend -http a=127.0.0.1:29001 -http b=127.0.0.1:29002 >$S/be.log 2>&1 &
ord="hap:29430"
for i in $(seq 0 $((NV-1))); do
  x=$((29590+i)); envv=V${i}_ENV; envs="${!envv:-}"
  taskset -c 1 $B/peer-xds -config-dir $S/dpv/$i/config -xds-address 127.0.0.1:$x > $S/dpv/$i/xds.log 2>&1 &
  (cd $S/dpv/$i && env HOME=$S/dpv/$i GOMAXPROCS=1 $envs taskset -c 0 $S/dpvbin$i --xds-server 127.0.0.1:$x --admin-address 127.0.0.1:$((29580+i)) --access-log off > dp.log 2>&1 &)
  ord="$ord v$i:$((29500+i*10))"
done
taskset -c 0 haproxy -f $D/haproxy.cfg -D -p $S/hap.pid
sleep 1
for t in $ord; do p=${t##*:}; for k in $(seq 50); do c=$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:$p/); [ "$c" = 200 ] && break; sleep 0.2; done; echo "check $t $c"; done
bepid=$(pgrep -f "peer-backend -http")
sumcs(){ v=0; n=0; for t in /proc/$1/task/*; do read a b < <(awk '/^voluntary/{v=$2} /^nonvoluntary/{n=$2} END{print v, n}' $t/status); v=$((v+a)); n=$((n+b)); done; echo $v $n; }
for r in $(seq ${ROUNDS:-4}); do
  set -- $ord; k=$(( (r-1) % $# )); o2="${@:$((k+1))} ${@:1:$k}"
  [ $((r%2)) = 0 ] && o2=$(echo $o2 | awk '{for(i=NF;i>0;i--) printf "%s ", $i}')
  for t in $o2; do
    n=${t%%:*}; p=${t##*:}
    if [ $n = hap ]; then pid=$(cat $S/hap.pid); else pid=$(pgrep -f "dpvbin${n#v} --xds-server"); fi
    taskset -c 1 wrk -t1 -c64 -d1s http://127.0.0.1:$p/ >/dev/null
    t0=$(awk '{print $14+$15}' /proc/$pid/stat); b0=$(sumcs $bepid)
    taskset -c 1 wrk -t1 -c64 -d${DUR:-6}s --latency -s /work/scratch/s44/pct.lua http://127.0.0.1:$p/ > $S/o.txt &
    sleep 0.3; wp=$(pgrep -f "wrk -t1 -c64 -d${DUR:-6}s"); w0=$(sumcs $wp)
    sleep $((${DUR:-6}-1)).5
    w1=$(sumcs $wp); b1=$(sumcs $bepid)
    while pgrep -f "wrk -t1 -c64 -d${DUR:-6}s" >/dev/null; do sleep 0.1; done
    t1=$(awk '{print $14+$15}' /proc/$pid/stat)
    out=$(cat $S/o.txt)
    rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
    el=$((${DUR:-6}-1)).2
    echo "round $r $n rps=$rps cpu_us=$(awk -v a=$t0 -v b=$t1 -v r=$rps -v d=${DUR:-6} 'BEGIN{printf "%.2f", (b-a)*10000/(r*d)}') $(echo "$out" | grep ^PCT) wrkcs=$(awk -v a="$w0" -v b="$w1" -v r=$rps -v e=$el 'BEGIN{split(a,x," ");split(b,y," "); printf "%.1f,%.1f", (y[1]-x[1])*1000/(r*e), (y[2]-x[2])*1000/(r*e)}') becs=$(awk -v a="$b0" -v b="$b1" -v r=$rps -v e=${DUR:-6} 'BEGIN{split(a,x," ");split(b,y," "); printf "%.1f,%.1f", (y[1]-x[1])*1000/(r*e), (y[2]-x[2])*1000/(r*e)}')"
  done
done
cleanup
