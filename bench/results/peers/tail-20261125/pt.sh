#!/bin/bash
# passthrough by hand: HAProxy vs edgeway, load-core cost per request.
set -u
S=/work/scratch/s45; D=/work/scratch/s42; B=/work/main/.cache/bin
DPBIN=${DPBIN:-$B/edgeway-dataplane}
cleanup(){ [ -f $S/hap.pid ] && kill $(cat $S/hap.pid) 2>/dev/null; rm -f $S/hap.pid; pkill -f "peer-backend -https"; pkill -f "$S/dpbin"; pkill -f "peer-xds -config-dir $S"; while pgrep -f "peer-xds -config-dir $S|peer-backend -https|$S/dpbin" >/dev/null; do sleep 0.2; done; }
cleanup
cp -f $DPBIN $S/dpbin
taskset -c 1 $B/peer-backend -https tls=127.0.0.1:29003 -cert $D/cert-and-key.pem -key $D/cert-and-key.pem >$S/be.log 2>&1 &
taskset -c 1 $B/peer-xds -config-dir $S/dp/e/config -xds-address 127.0.0.1:29490 > $S/xds.log 2>&1 &
(cd $S/dp/e && env HOME=$S/dp/e GOMAXPROCS=1 ${DP_ENV:-} taskset -c 0 $S/dpbin --xds-server 127.0.0.1:29490 --admin-address 127.0.0.1:29491 --access-log off > dp.log 2>&1 &)
taskset -c 0 haproxy -f $D/haproxy.cfg -D -p $S/hap.pid
for k in $(seq 50); do c1=$(curl -sk -o /dev/null -w "%{http_code}" https://localhost:29403/); c2=$(curl -sk -o /dev/null -w "%{http_code}" https://localhost:29433/); [ "$c1$c2" = 200200 ] && break; sleep 0.2; done
echo "check $c1 $c2"
bepid=$(pgrep -f "peer-backend -https")
for r in $(seq ${ROUNDS:-4}); do
  ord="hap:29433 edge:29403"; [ $((r%2)) = 0 ] && ord="edge:29403 hap:29433"
  for t in $ord; do
    n=${t%%:*}; p=${t##*:}
    if [ $n = hap ]; then pid=$(cat $S/hap.pid); else pid=$(pgrep -f "$S/dpbin --xds"); fi
    taskset -c 1 wrk -t1 -c64 -d1s https://localhost:$p/ >/dev/null
    t0=$(awk '{print $14+$15}' /proc/$pid/stat); b0=$(awk '{print $14+$15}' /proc/$bepid/stat)
    c0=$(awk '/^cpu1 /{print $2+$3+$4+$7+$8, $5+$6, $9}' /proc/stat)
    nstat -n >/dev/null
    out=$( { /usr/bin/time -f "WRKCPU %U %S" taskset -c 1 wrk -t1 -c64 -d${DUR:-6}s --latency https://localhost:$p/; } 2>&1 )
    ns=$(nstat 2>/dev/null | awk '$1~/^(TcpInSegs|TcpOutSegs|TcpExtDelayedACKs|TcpExtTCPPureAcks|TcpExtTCPHPAcks|TcpExtTCPHPHits|TcpExtTCPBacklogCoalesce)$/{printf "%s=%s ", $1, $2}')
    t1=$(awk '{print $14+$15}' /proc/$pid/stat); b1=$(awk '{print $14+$15}' /proc/$bepid/stat)
    c1=$(awk '/^cpu1 /{print $2+$3+$4+$7+$8, $5+$6, $9}' /proc/stat)
    rps=$(echo "$out" | awk '/Requests\/sec/{print $2}'); req=$(echo "$out" | awk '/requests in/{print $1}')
    p50=$(echo "$out" | awk '$1=="50%"{print $2}'); p99=$(echo "$out" | awk '$1=="99%"{print $2}')
    wcpu=$(echo "$out" | awk '/^WRKCPU/{print $2+$3}')
    echo "$r $n rps=$rps p50=$p50 p99=$p99 px_us=$(awk -v a=$t0 -v b=$t1 -v q=$req 'BEGIN{printf "%.2f",(b-a)*1e4/q}') be_us=$(awk -v a=$b0 -v b=$b1 -v q=$req 'BEGIN{printf "%.2f",(b-a)*1e4/q}') wrk_us=$(awk -v w=$wcpu -v q=$req 'BEGIN{printf "%.2f",w*1e6/q}') core1=[$c0]->[$c1] req=$req $ns"
  done
done
cleanup
