#!/bin/bash
# HTTP/1.1: HAProxy and two edgeway data planes (same binary) alternated; one of them (AGED=A|B)
# first carries the harness's earlier scenarios (http1, tls, passthrough; 3 x 11 s each).
set -u
S=/work/scratch/s47; B=/work/main/.cache/bin
DPBIN=${DPBIN:-$B/edgeway-dataplane}
AGED=${AGED:-B}
cleanup(){ [ -f $S/hap.pid ] && kill $(cat $S/hap.pid) 2>/dev/null; rm -f $S/hap.pid; pkill -f "peer-backend -http a=127.0.0.1:29001"; pkill -f "$S/dpbin"; pkill -f "peer-xds -config-dir $S"; while pgrep -f "peer-xds -config-dir $S|peer-backend -http a=127.0.0.1:29001|$S/dpbin" >/dev/null; do sleep 0.2; done; }
cleanup
cp -f $DPBIN $S/dpbin
taskset -c 1 env GOMAXPROCS=1 $B/peer-backend -http a=127.0.0.1:29001 -http b=127.0.0.1:29002 -https tls=127.0.0.1:29003 -cert $S/cert.pem -key $S/key.pem >$S/be.log 2>&1 &
for X in A:7 B:8; do n=${X%%:*}; d=${X##*:}
  taskset -c 1 $B/peer-xds -config-dir $S/$n/config -xds-address 127.0.0.1:29${d}92 > $S/$n/xds.log 2>&1 &
  (cd $S/$n && env HOME=$S/$n XDG_DATA_HOME=$S/$n XDG_CONFIG_HOME=$S/$n GOMAXPROCS=1 taskset -c 0 $S/dpbin --xds-server 127.0.0.1:29${d}92 --admin-address 127.0.0.1:29${d}82 --access-log off > dp.log 2>&1 &)
done
taskset -c 0 haproxy -f $S/haproxy.cfg -D -p $S/hap.pid
sleep 1.5
for p in 29730 29700 29800; do for k in $(seq 50); do c=$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:$p/); [ "$c" = 200 ] && break; sleep 0.2; done; echo "check $p $c"; done
for p in 29702 29802; do echo "check tls $p $(curl -sk -o /dev/null -w "%{http_code}" https://localhost:$p/)"; done
for p in 29703 29803; do echo "check passthrough $p $(curl -sk -o /dev/null -w "%{http_code}" https://localhost:$p/)"; done
pidof_dp(){ pgrep -f "$S/dpbin --xds-server 127.0.0.1:29$1"; }
declare -A PID=([hap]=$(cat $S/hap.pid) [A]=$(pidof_dp 792) [B]=$(pidof_dp 892))
declare -A PORT=([hap]=29730 [A]=29700 [B]=29800)
[ $AGED = A ] && ab=7 || ab=8
mem(){ for n in A B; do echo "mem $1 $n rss_kib=$(awk '/VmRSS/{print $2}' /proc/${PID[$n]}/status) threads=$(awk '/Threads/{print $2}' /proc/${PID[$n]}/status)"; done; }
mem before-aging
if [ "${AGE:-1}" = 1 ]; then
for url in http://127.0.0.1:29${ab}00/ https://localhost:29${ab}02/ https://localhost:29${ab}03/; do
  for i in 1 2 3; do taskset -c 1 wrk -t1 -c64 -d11s $url | awk -v u=$url '/Requests\/sec/{print "aging", u, $2}'; sleep ${GAP:-5}; done
done
fi
mem after-aging
ticks(){ awk '{print $14+$15}' /proc/$1/stat; }
ord="hap A B"
for r in $(seq ${ROUNDS:-6}); do
  set -- $ord; k=$(( (r-1) % $# )); o2="${@:$((k+1))} ${@:1:$k}"
  [ $((r%2)) = 0 ] && o2=$(echo $o2 | awk '{for(i=NF;i>0;i--) printf "%s ", $i}')
  for n in $o2; do
    p=${PORT[$n]}; pid=${PID[$n]}
    taskset -c 1 wrk -t1 -c64 -d1s http://127.0.0.1:$p/ >/dev/null
    t0=$(ticks $pid)
    taskset -c 1 wrk -t1 -c64 -d${DUR:-6}s --latency -s $S/pct.lua http://127.0.0.1:$p/ > $S/o.txt 2>&1
    t1=$(ticks $pid)
    reqs=$(awk '/requests in/{print $1}' $S/o.txt); rps=$(awk '/Requests\/sec/{print $2}' $S/o.txt)
    tag=$n; [ $n = $AGED ] && tag=aged; [ $n != hap ] && [ $n != $AGED ] && tag=fresh
    echo "round $r $tag($n) rps=$rps cpu_us=$(awk -v a=$t0 -v b=$t1 -v r=$reqs 'BEGIN{printf "%.2f", (b-a)*10000/r}') $(grep ^PCT $S/o.txt)"
  done
done
mem end
cleanup
