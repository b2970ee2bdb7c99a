#!/bin/bash
# HTTP/2 by hand (h2load -t1 -c8 -m8, the harness's h2 load), HAProxy, nginx and edgeway's data
# plane alternated, the harness's pinning; percentiles from h2load's per-request log.
set -u
S=/work/scratch/s47; H=/work/scratch/s48; B=/work/main/.cache/bin
DPBIN=${DPBIN:-$B/edgeway-dataplane}
cleanup(){ [ -f $S/hap.pid ] && kill $(cat $S/hap.pid) 2>/dev/null; rm -f $S/hap.pid; pkill -f "nginx -c $S/nginx.conf"; pkill -f "peer-backend -http a=127.0.0.1:29001"; pkill -f "$H/dpbin"; pkill -f "peer-xds -config-dir $S"; while pgrep -f "peer-xds -config-dir $S|peer-backend -http a=127.0.0.1:29001|$H/dpbin|nginx -c $S" >/dev/null; do sleep 0.2; done; }
cleanup
cp -f $DPBIN $H/dpbin
taskset -c 1 env GOMAXPROCS=1 $B/peer-backend -http a=127.0.0.1:29001 -http b=127.0.0.1:29002 -https tls=127.0.0.1:29003 -cert $S/cert.pem -key $S/key.pem >$H/be.log 2>&1 &
taskset -c 1 $B/peer-xds -config-dir $S/A/config -xds-address 127.0.0.1:29792 > $H/xds.log 2>&1 &
(cd $S/A && env HOME=$S/A XDG_DATA_HOME=$S/A XDG_CONFIG_HOME=$S/A GOMAXPROCS=1 ${EWENV:-} taskset -c 0 $H/dpbin --xds-server 127.0.0.1:29792 --admin-address 127.0.0.1:29782 --access-log off > $H/dp.log 2>&1 &)
taskset -c 0 haproxy -f $S/haproxy.cfg -D -p $S/hap.pid
taskset -c 0 nginx -c $S/nginx.conf &
sleep 1.5
declare -A PORT=([hap]=29732 [ngx]=29722 [ew]=29702)
for n in hap ngx ew; do p=${PORT[$n]}; for k in $(seq 50); do c=$(curl -sk --http2 -o /dev/null -w "%{http_code} %{http_version}" https://localhost:$p/); [ "${c%% *}" = 200 ] && break; sleep 0.2; done; echo "check $n $c"; done
declare -A PID=([hap]=$(cat $S/hap.pid) [ngx]=$(pgrep -f "nginx -c $S/nginx.conf") [ew]=$(pgrep -f "$H/dpbin --xds-server"))
ticks(){ awk '{print $14+$15}' /proc/$1/stat; }
ord=${ORD:-"hap ngx ew"}
for r in $(seq ${ROUNDS:-6}); do
  set -- $ord; k=$(( (r-1) % $# )); o2="${@:$((k+1))} ${@:1:$k}"
  [ $((r%2)) = 0 ] && o2=$(echo $o2 | awk '{for(i=NF;i>0;i--) printf "%s ", $i}')
  for n in $o2; do
    p=${PORT[$n]}; pid=${PID[$n]}
    taskset -c 1 h2load -t1 -c8 -m8 -D 1 https://localhost:$p/ >/dev/null 2>&1
    rm -f $H/h2.log
    t0=$(ticks $pid)
    out=$(taskset -c 1 h2load -t1 -c8 -m8 -D ${DUR:-6} --log-file=$H/h2.log https://localhost:$p/ 2>&1)
    t1=$(ticks $pid)
    rps=$(echo "$out" | awk '/^finished in/{print $4}')
    reqs=$(wc -l < $H/h2.log)
    [ -n "${KEEP:-}" ] && cp $H/h2.log $KEEP/$n-r$r.log
    pct=$(awk '{print $3}' $H/h2.log | sort -n | awk '{a[NR]=$1} END{printf "p50=%.3f p90=%.3f p99=%.3f p995=%.3f p999=%.3f max=%.3f n=%d", a[int(NR*0.5)]/1000, a[int(NR*0.9)]/1000, a[int(NR*0.99)]/1000, a[int(NR*0.995)]/1000, a[int(NR*0.999)]/1000, a[NR]/1000, NR}')
    echo "round $r $n rps=$rps cpu_us=$(awk -v a=$t0 -v b=$t1 -v r=$reqs 'BEGIN{printf "%.2f", (b-a)*10000/r}') PCT $pct"
  done
done
cleanup
