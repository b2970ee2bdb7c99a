#!/bin/bash
# alternated A/B of two data plane variants (binary + env), harness pinning.
# A_BIN A_ENV B_BIN B_ENV MODE=http1|tls|h2 ROUNDS DUR
set -u
D=/work/scratch/s42; L=/work/scratch/s43/logs; B=/work/main/.cache/bin
cleanup(){ [ -f $D/hap.pid ] && kill $(cat $D/hap.pid) 2>/dev/null; rm -f $D/hap.pid; pkill -f peer-backend; pkill -f "$D/bin-"; pkill -f peer-xds; while pgrep -f "peer-xds|peer-backend|$D/bin-" >/dev/null; do sleep 0.2; done; }
cleanup
cp -f ${A_BIN} $D/bin-old; cp -f ${B_BIN} $D/bin-new
taskset -c 1 $B/peer-backend -http a=127.0.0.1:29001 >/dev/null 2>&1 &
i=0
for n in old new; do
  x=$((29450+i*10)); a=$((29451+i*10)); i=$((i+1))
  if [ $n = old ]; then envs="${A_ENV:-}"; else envs="${B_ENV:-}"; fi
  taskset -c 1 $B/peer-xds -config-dir $D/dp/$n/config -xds-address 127.0.0.1:$x > $D/dp/$n/xds.log 2>&1 &
  (cd $D/dp/$n && env HOME=$D/dp/$n GOMAXPROCS=1 $envs taskset -c 0 $D/bin-$n --xds-server 127.0.0.1:$x --admin-address 127.0.0.1:$a --access-log off > dp.log 2>&1 &)
done
if [ -n "${HAP:-}" ]; then taskset -c 0 haproxy -f $D/haproxy.cfg -D -p $D/hap.pid; fi
for k in $(seq 50); do c1=$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:29400/); c2=$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:29410/); [ "$c1$c2" = 200200 ] && break; sleep 0.2; done
curl -s -o /dev/null -w "A %{http_code}\n" http://127.0.0.1:29400/ ; curl -s -o /dev/null -w "B %{http_code}\n" http://127.0.0.1:29410/
for r in $(seq ${ROUNDS:-4}); do
  ord="${ORDER:-old:29400 new:29410}"; if [ $((r%2)) = 0 ]; then ord=$(echo $ord | awk '{for(i=NF;i>0;i--) printf "%s ", $i}'); fi
  for t in $ord; do
    n=${t%%:*}; p=${t##*:}
    case ${MODE:-http1} in
    http1) url=http://127.0.0.1:$p/ ;;
    *) url=https://localhost:$((p+2))/ ;;
    esac
    if [ $n = hap ]; then pid=$(cat $D/hap.pid); else pid=$(pgrep -f "$D/bin-$n --xds"); fi
    t0=$(awk '{print $14+$15}' /proc/$pid/stat)
    if [ "${MODE:-http1}" = h2 ]; then
      taskset -c 1 h2load -t1 -c${H2CONNS:-8} -m8 -D 1 $url >/dev/null 2>&1
      rm -f /tmp/h2.log
      out=$(taskset -c 1 h2load -t1 -c${H2CONNS:-8} -m8 -D ${DUR:-8} --log-file=/tmp/h2.log $url 2>&1)
      rps=$(echo "$out" | awk '/^finished in/{print $4}')
      read p50 p90 p99 < <(awk '{print $3}' /tmp/h2.log | sort -n | awk '{a[NR]=$1} END{printf "%.3fms %.3fms %.3fms\n", a[int(NR*0.5)]/1000, a[int(NR*0.9)]/1000, a[int(NR*0.99)]/1000}')
    else
      taskset -c 1 wrk -t1 -c${CONNS:-64} -d1s $url >/dev/null
      out=$(taskset -c 1 wrk -t1 -c${CONNS:-64} -d${DUR:-8}s --latency $url)
      rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
      p50=$(echo "$out" | awk '$1=="50%"{print $2}')
      p90=$(echo "$out" | awk '$1=="90%"{print $2}')
      p99=$(echo "$out" | awk '$1=="99%"{print $2}')
    fi
    [ "${MODE:-http1}" = h2 ] && cp /tmp/h2.log $L/${TAG:-x}-$n-r$r.log
    t1=$(awk '{print $14+$15}' /proc/$pid/stat)
    cpu=$(awk -v a=$t0 -v b=$t1 -v r=$rps -v d=${DUR:-8} 'BEGIN{printf "%.2f", (b-a)*10000/(r*d)}')
    echo "round $r $n rps=$rps p50=$p50 p90=$p90 p99=$p99 cpu_us=$cpu"
  done
done
cleanup
