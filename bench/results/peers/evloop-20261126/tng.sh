#!/bin/bash
# tls-newconn by hand: nginx, HAProxy and two edgeway builds (A: $ABIN, B: $BBIN) alternated;
# per run: rps, p50, p99, accept queue, proxy/wrk/backend CPU per request (us).
set -u
S=/work/scratch/s47; B=/work/main/.cache/bin
cleanup(){ [ -f $S/hap.pid ] && kill $(cat $S/hap.pid) 2>/dev/null; rm -f $S/hap.pid; pkill -f "nginx -c $S/nginx.conf"; pkill -f "peer-backend -http a=127.0.0.1:29001"; pkill -f "$S/dpbin"; pkill -f "peer-xds -config-dir $S"; while pgrep -f "peer-xds -config-dir $S|peer-backend -http a=127.0.0.1:29001|$S/dpbin|nginx -c $S" >/dev/null; do sleep 0.2; done; }
cleanup
cp -f ${ABIN:-$S/dp-base} $S/dpbinA; cp -f ${BBIN:-$S/dp-turns} $S/dpbinB
taskset -c 1 env GOMAXPROCS=1 $B/peer-backend -http a=127.0.0.1:29001 -http b=127.0.0.1:29002 -https tls=127.0.0.1:29003 -cert $S/cert.pem -key $S/key.pem >$S/be.log 2>&1 &
for X in A:7 B:8; do n=${X%%:*}; d=${X##*:}
  taskset -c 1 $B/peer-xds -config-dir $S/$n/config -xds-address 127.0.0.1:29${d}92 > $S/$n/xds.log 2>&1 &
  (cd $S/$n && env HOME=$S/$n XDG_DATA_HOME=$S/$n XDG_CONFIG_HOME=$S/$n GOMAXPROCS=1 $( [ $n = A ] && echo ${AENV:-} || echo ${BENV:-} ) taskset -c 0 $S/dpbin$n --xds-server 127.0.0.1:29${d}92 --admin-address 127.0.0.1:29${d}82 --access-log off > dp.log 2>&1 &)
done
taskset -c 0 haproxy -f $S/haproxy.cfg -D -p $S/hap.pid
taskset -c 0 nginx -c $S/nginx.conf &
sleep 1.5
ord="${ORD:-ngx:29722 hap:29732 A:29702 B:29802}"
for t in $ord; do p=${t##*:}; for k in $(seq 50); do c=$(curl -sk -o /dev/null -w "%{http_code}" https://localhost:$p/); [ "$c" = 200 ] && break; sleep 0.2; done; echo "check $t $c"; done
bepid=$(pgrep -f "peer-backend -http a=127.0.0.1:29001")
ticks(){ awk '{print $14+$15}' /proc/$1/stat; }
for r in $(seq ${ROUNDS:-4}); do
  set -- $ord; k=$(( (r-1) % $# )); o2="${@:$((k+1))} ${@:1:$k}"
  [ $((r%2)) = 0 ] && o2=$(echo $o2 | awk '{for(i=NF;i>0;i--) printf "%s ", $i}')
  for t in $o2; do
    n=${t%%:*}; p=${t##*:}
    case $n in hap) pid=$(cat $S/hap.pid);; ngx) pid=$(pgrep -f "nginx -c $S/nginx.conf");; A|B) pid=$(pgrep -f "$S/dpbin$n --xds-server");; esac
    taskset -c 1 wrk -t1 -c64 -d1s -H "Connection: close" https://localhost:$p/ >/dev/null
    t0=$(ticks $pid); b0=$(ticks $bepid)
    ( n2=0; t2=0; for k in $(seq 20); do sleep 0.25; q=$(ss -Hlnt "sport = :$p" | awk '{print $2}'); t2=$((t2+q)); n2=$((n2+1)); done; echo "$t2 $n2" | awk '{printf "%.1f", $1/$2}' > $S/aq.txt ) &
    /usr/bin/time -f "WRKT %U %S" taskset -c 1 wrk -t1 -c64 -d${DUR:-6}s --latency --timeout 5s -H "Connection: close" -s $S/pct.lua https://localhost:$p/ > $S/o.txt 2>&1
    t1=$(ticks $pid); b1=$(ticks $bepid)
    rps=$(awk '/Requests\/sec/{print $2}' $S/o.txt); reqs=$(awk '/requests in/{print $1}' $S/o.txt)
    wt=$(awk '/^WRKT/{print $2+$3}' $S/o.txt)
    sleep 0.3
    echo "round $r $n rps=$rps aq=$(cat $S/aq.txt) proxy_us=$(awk -v a=$t0 -v b=$t1 -v r=$reqs 'BEGIN{printf "%.1f", (b-a)*10000/r}') wrk_us=$(awk -v w=$wt -v r=$reqs 'BEGIN{printf "%.1f", w*1e6/r}') be_us=$(awk -v a=$b0 -v b=$b1 -v r=$reqs 'BEGIN{printf "%.1f", (b-a)*10000/r}') $(grep ^PCT $S/o.txt)"
  done
done
cleanup
