#!/bin/bash
# floor variants against HAProxy, alternated. VARIANTS="name:port:binary:args|..." 
set -u
D=/work/scratch/s42; B=/work/main/.cache/bin
cleanup(){ [ -f $D/hap.pid ] && kill $(cat $D/hap.pid) 2>/dev/null; rm -f $D/hap.pid; pkill -f peer-backend; pkill -f "s44/floor"; pkill -f "s44/bin-"; while pgrep -f "peer-backend|s44/floor|s44/bin-" >/dev/null; do sleep 0.2; done; }
cleanup
taskset -c 1 $B/peer-backend -http a=127.0.0.1:29001 >/dev/null 2>&1 &
taskset -c 0 haproxy -f $D/haproxy.cfg -D -p $D/hap.pid
IFS='|' read -ra VS <<< "$VARIANTS"
order="hap:29430"
for v in "${VS[@]}"; do
  IFS=: read -r n p bin args <<< "$v"
  (env GOMAXPROCS=1 ${VENV:-} taskset -c 0 $bin -listen 127.0.0.1:$p -upstream 127.0.0.1:29001 $args >/dev/null 2>&1 &)
  order="$order $n:$p"
done
sleep 1
for r in $(seq ${ROUNDS:-4}); do
  ord="$order"; if [ $((r%2)) = 0 ]; then ord=$(echo $ord | awk '{for(i=NF;i>0;i--) printf "%s ", $i}'); fi
  for t in $ord; do
    n=${t%%:*}; p=${t##*:}
    url=http://127.0.0.1:$p/
    if [ $n = hap ]; then pid=$(cat $D/hap.pid); else pid=$(ss -ltnp "sport = :$p" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2); fi
    t0=$(awk '{print $14+$15}' /proc/$pid/stat)
    taskset -c 1 wrk -t1 -c${CONNS:-64} -d1s $url >/dev/null
    out=$(taskset -c 1 wrk -t1 -c${CONNS:-64} -d${DUR:-6}s --latency -s /work/scratch/s44/pct.lua $url)
    rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
    t1=$(awk '{print $14+$15}' /proc/$pid/stat)
    cpu=$(awk -v a=$t0 -v b=$t1 -v r=$rps -v d=${DUR:-6} 'BEGIN{printf "%.2f", (b-a)*10000/(r*(d+1))}')
    echo "round $r $n rps=$rps cpu_us=$cpu $(echo "$out" | grep ^PCT)"
  done
done
cleanup
