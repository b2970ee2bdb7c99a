#!/bin/bash
# HTTP/1.1 and the 90/10 split, nginx, HAProxy and edgeway alternated; per run: proxy CPU per request, outgoing connections opened (TcpActiveOpens), p99.
set -u
S=/work/scratch/s46; B=/work/main/.cache/bin
DPBIN=${DPBIN:-$B/edgeway-dataplane}
cleanup(){ [ -f $S/hap.pid ] && kill $(cat $S/hap.pid) 2>/dev/null; rm -f $S/hap.pid; pkill -f "nginx -c $S/nginx-split.conf"; pkill -f "peer-backend"; pkill -f "$S/dpbin"; pkill -f "peer-xds -config-dir"; while pgrep -f "peer-xds -config-dir|peer-backend|$S/dpbin|nginx -c $S" >/dev/null; do sleep 0.2; done; }
cleanup
cp -f $DPBIN $S/dpbin
taskset -c 1 $B/peer-backend -http a=127.0.0.1:29001 -http b=127.0.0.1:29002 >$S/be.log 2>&1 &
taskset -c 1 $B/peer-xds -config-dir $S/sp/config -xds-address 127.0.0.1:29592 > $S/sp/xds.log 2>&1 &
(cd $S/sp && env HOME=$S/sp GOMAXPROCS=1 taskset -c 0 $S/dpbin --xds-server 127.0.0.1:29592 --admin-address 127.0.0.1:29582 --access-log off > dp.log 2>&1 &)
taskset -c 0 haproxy -f $S/haproxy.cfg -D -p $S/hap.pid
taskset -c 0 nginx -c $S/nginx-split.conf &
sleep 1.5
ord="ngx-h:29420 ngx-s:29421 hap-h:29430 hap-s:29431 edge-h:29600 edge-s:29601"
for t in $ord; do p=${t##*:}; for k in $(seq 50); do c=$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:$p/); [ "$c" = 200 ] && break; sleep 0.2; done; echo "check $t $c"; done
ticks(){ awk '{print $14+$15}' /proc/$1/stat; }
opens(){ nstat -az TcpActiveOpens | awk '/TcpActiveOpens/{print $2}'; }
for r in $(seq ${ROUNDS:-4}); do
  set -- $ord; k=$(( (r-1) % $# )); o2="${@:$((k+1))} ${@:1:$k}"
  [ $((r%2)) = 0 ] && o2=$(echo $o2 | awk '{for(i=NF;i>0;i--) printf "%s ", $i}')
  for t in $o2; do
    n=${t%%:*}; p=${t##*:}
    case $n in hap*) pid=$(cat $S/hap.pid);; ngx*) pid=$(pgrep -f "nginx -c $S/nginx-split.conf");; edge*) pid=$(pgrep -f "$S/dpbin --xds-server");; esac
    taskset -c 1 wrk -t1 -c64 -d1s http://127.0.0.1:$p/ >/dev/null
    t0=$(ticks $pid); o0=$(opens)
    taskset -c 1 wrk -t1 -c64 -d${DUR:-6}s --latency -s /work/scratch/s44/pct.lua http://127.0.0.1:$p/ > $S/o.txt 2>&1
    t1=$(ticks $pid); o1=$(opens)
    reqs=$(awk '/requests in/{print $1}' $S/o.txt); rps=$(awk '/Requests\/sec/{print $2}' $S/o.txt)
    echo "round $r $n rps=$rps cpu_us=$(awk -v a=$t0 -v b=$t1 -v r=$reqs 'BEGIN{printf "%.2f", (b-a)*10000/r}') opens=$((o1-o0)) $(grep ^PCT $S/o.txt)"
  done
done
echo "connections to b: $(ss -Htn state established '( dport = :29002 )' | wc -l), to a: $(ss -Htn state established '( dport = :29001 )' | wc -l)"
cleanup
