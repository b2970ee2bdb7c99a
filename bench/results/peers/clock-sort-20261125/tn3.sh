#!/bin/bash
# tls-newconn by hand: nginx, HAProxy, edgeway alternated; per request: proxy, wrk, backend CPU (us) and loopback segments.
set -u
S=/work/scratch/s46; D=/work/scratch/s42; B=/work/main/.cache/bin
DPBIN=${DPBIN:-$B/edgeway-dataplane}
cleanup(){ [ -f $S/hap.pid ] && kill $(cat $S/hap.pid) 2>/dev/null; rm -f $S/hap.pid; pkill -f "nginx -c $S/nginx.conf"; pkill -f "peer-backend"; pkill -f "$S/dpbin"; pkill -f "peer-xds -config-dir"; while pgrep -f "peer-xds -config-dir|peer-backend|$S/dpbin|nginx -c $S" >/dev/null; do sleep 0.2; done; }
cleanup
cp -f $DPBIN $S/dpbin
cp -f $DPBIN $S/dpbin2
taskset -c 1 $B/peer-backend -http a=127.0.0.1:29001 -http b=127.0.0.1:29002 >$S/be.log 2>&1 &
mkdir -p $S/dp; cp -r $D/dp/old/config $S/dp/ 2>/dev/null
taskset -c 1 $B/peer-xds -config-dir $S/dp/config -xds-address 127.0.0.1:29590 > $S/dp/xds.log 2>&1 &
(cd $S/dp && env HOME=$S/dp GOMAXPROCS=1 ${DP_ENV:-} taskset -c 0 $S/dpbin --xds-server 127.0.0.1:29590 --admin-address 127.0.0.1:29580 --access-log off > dp.log 2>&1 &)
taskset -c 1 $B/peer-xds -config-dir $S/dp2/config -xds-address 127.0.0.1:29591 > $S/dp2/xds.log 2>&1 &
(cd $S/dp2 && env HOME=$S/dp2 GOMAXPROCS=1 ${EAY_ENV:-EW_ACCEPT_YIELD=1} taskset -c 0 $S/dpbin2 --xds-server 127.0.0.1:29591 --admin-address 127.0.0.1:29581 --access-log off > dp.log 2>&1 &)
taskset -c 0 haproxy -f $D/haproxy.cfg -D -p $S/hap.pid
taskset -c 0 nginx -c $S/nginx.conf &
sleep 1.5
ord="${ORD:-ngx:29422 hap:29432 edge:29402 eay:29442}"
for t in $ord; do p=${t##*:}; for k in $(seq 50); do c=$(curl -sk -o /dev/null -w "%{http_code}" https://localhost:$p/); [ "$c" = 200 ] && break; sleep 0.2; done; echo "check $t $c"; done
bepid=$(pgrep -f "peer-backend -http")
ticks(){ awk '{print $14+$15}' /proc/$1/stat; }
seg(){ nstat -az TcpOutSegs | awk '/TcpOutSegs/{print $2}'; }
for r in $(seq ${ROUNDS:-4}); do
  set -- $ord; k=$(( (r-1) % $# )); o2="${@:$((k+1))} ${@:1:$k}"
  [ $((r%2)) = 0 ] && o2=$(echo $o2 | awk '{for(i=NF;i>0;i--) printf "%s ", $i}')
  for t in $o2; do
    n=${t%%:*}; p=${t##*:}
    case $n in hap) pid=$(cat $S/hap.pid);; ngx) pid=$(pgrep -f "nginx -c $S/nginx.conf");; edge) pid=$(pgrep -f "$S/dpbin --xds-server");; eay) pid=$(pgrep -f "$S/dpbin2 --xds-server");; esac
    taskset -c 1 wrk -t1 -c64 -d1s -H "Connection: close" https://localhost:$p/ >/dev/null
    t0=$(ticks $pid); b0=$(ticks $bepid); s0=$(seg)
    ( n2=0; t2=0; for k in $(seq 20); do sleep 0.25; q=$(ss -Hlnt "sport = :$p" | awk '{print $2}'); t2=$((t2+q)); n2=$((n2+1)); done; echo "$t2 $n2" | awk '{printf "%.1f", $1/$2}' > $S/aq.txt ) &
    /usr/bin/time -f "WRKT %U %S" taskset -c 1 wrk -t1 -c64 -d${DUR:-6}s --latency --timeout 5s -H "Connection: close" https://localhost:$p/ > $S/o.txt 2>&1
    t1=$(ticks $pid); b1=$(ticks $bepid); s1=$(seg)
    rps=$(awk '/Requests\/sec/{print $2}' $S/o.txt); reqs=$(awk '/requests in/{print $1}' $S/o.txt)
    p50=$(awk '$1=="50%"{print $2}' $S/o.txt); p99=$(awk '$1=="99%"{print $2}' $S/o.txt)
    wt=$(awk '/^WRKT/{print $2+$3}' $S/o.txt)
    echo "round $r $n rps=$rps p50=$p50 p99=$p99 aq=$(cat $S/aq.txt) proxy_us=$(awk -v a=$t0 -v b=$t1 -v r=$reqs 'BEGIN{printf "%.1f", (b-a)*10000/r}') wrk_us=$(awk -v w=$wt -v r=$reqs 'BEGIN{printf "%.1f", w*1e6/r}') be_us=$(awk -v a=$b0 -v b=$b1 -v r=$reqs 'BEGIN{printf "%.1f", (b-a)*10000/r}') segs=$(awk -v a=$s0 -v b=$s1 -v r=$reqs 'BEGIN{printf "%.2f", (b-a)/r}')"
  done
done
cleanup
