#!/bin/bash
# HTTP/1.1 keep-alive, alternated rounds: HAProxy, edgeway's data plane, floor (goroutine per
# connection) and evfloor (one epoll loop), the harness's pinning (proxy on core 0, GOMAXPROCS=1;
# wrk -t1 -c64 and the backend on core 1).
set -u
S=/work/scratch/s47; H=/work/scratch/s48; B=/work/main/.cache/bin
DPBIN=${DPBIN:-$B/edgeway-dataplane}
cleanup(){ [ -f $S/hap.pid ] && kill $(cat $S/hap.pid) 2>/dev/null; rm -f $S/hap.pid; pkill -f "peer-backend -http a=127.0.0.1:29001"; pkill -f "$H/dpbin"; pkill -f "peer-xds -config-dir $S"; pkill -f "127.0.0.1:29001 -listen|-upstream 127.0.0.1:29001"; while pgrep -f "peer-xds -config-dir $S|peer-backend -http a=127.0.0.1:29001|$H/dpbin|-upstream 127.0.0.1:29001" >/dev/null; do sleep 0.2; done; }
cleanup
cp -f $DPBIN $H/dpbin
taskset -c 1 env GOMAXPROCS=1 $B/peer-backend -http a=127.0.0.1:29001 -http b=127.0.0.1:29002 -https tls=127.0.0.1:29003 -cert $S/cert.pem -key $S/key.pem >$H/be.log 2>&1 &
taskset -c 1 $B/peer-xds -config-dir $S/A/config -xds-address 127.0.0.1:29792 > $H/xds.log 2>&1 &
(cd $S/A && env HOME=$S/A XDG_DATA_HOME=$S/A XDG_CONFIG_HOME=$S/A GOMAXPROCS=1 ${EWENV:-} taskset -c 0 $H/dpbin --xds-server 127.0.0.1:29792 --admin-address 127.0.0.1:29782 --access-log off > $H/dp.log 2>&1 &)
taskset -c 1 $B/peer-xds -config-dir $S/B/config -xds-address 127.0.0.1:29892 > $H/xds2.log 2>&1 &
(cd $S/B && env HOME=$S/B XDG_DATA_HOME=$S/B XDG_CONFIG_HOME=$S/B GOMAXPROCS=1 ${EW2ENV:-} taskset -c 0 $H/dpbin --xds-server 127.0.0.1:29892 --admin-address 127.0.0.1:29882 --access-log off > $H/dp2.log 2>&1 &)
taskset -c 0 haproxy -f $S/haproxy.cfg -D -p $S/hap.pid
declare -A PID PORT
# FLOORS: name=binary:port[:flag,flag...]
for f in ${FLOORS-floor=floor:29761 evfloor=evfloor:29760}; do
  name=${f%%=*}; rest=${f#*=}; bin=${rest%%:*}; rest=${rest#*:}; port=${rest%%:*}; args=""; [ "$rest" != "$port" ] && args=$(echo ${rest#*:} | tr , ' ')
  GOMAXPROCS=1 taskset -c 0 $B/$bin -listen 127.0.0.1:$port -upstream 127.0.0.1:29001 $args > $H/$name.log 2>&1 &
  PID[$name]=$!; PORT[$name]=$port
done
sleep 1.5
for p in 29730 29700 29800 ${PORT[@]}; do for k in $(seq 50); do c=$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:$p/); [ "$c" = 200 ] && break; sleep 0.2; done; echo "check $p $c"; done
PID[hap]=$(cat $S/hap.pid); PID[ew]=$(pgrep -f "$H/dpbin --xds-server 127.0.0.1:29792"); PID[ew2]=$(pgrep -f "$H/dpbin --xds-server 127.0.0.1:29892"); PORT[hap]=29730; PORT[ew]=29700; PORT[ew2]=29800
ticks(){ awk '{print $14+$15}' /proc/$1/stat; }
ord=${ORD:-"hap ew floor evfloor"}
for r in $(seq ${ROUNDS:-6}); do
  set -- $ord; k=$(( (r-1) % $# )); o2="${@:$((k+1))} ${@:1:$k}"
  [ $((r%2)) = 0 ] && o2=$(echo $o2 | awk '{for(i=NF;i>0;i--) printf "%s ", $i}')
  for n in $o2; do
    p=${PORT[$n]}; pid=${PID[$n]}
    taskset -c 1 wrk -t1 -c64 -d1s http://127.0.0.1:$p/ >/dev/null
    t0=$(ticks $pid)
    taskset -c 1 wrk -t1 -c64 -d${DUR:-6}s --latency -s $H/pct.lua http://127.0.0.1:$p/ > $H/o.txt 2>&1
    t1=$(ticks $pid)
    reqs=$(awk '/requests in/{print $1}' $H/o.txt); rps=$(awk '/Requests\/sec/{print $2}' $H/o.txt)
    echo "round $r $n rps=$rps cpu_us=$(awk -v a=$t0 -v b=$t1 -v r=$reqs 'BEGIN{printf "%.2f", (b-a)*10000/r}') $(grep ^PCT $H/o.txt)"
  done
done
cleanup
