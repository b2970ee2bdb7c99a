#!/bin/bash
# syscalls per request for old and new under MODE load, 5 s each
set -u
D=/work/scratch/fifo; B=/work/main/.cache/bin
pkill -f peer-backend; pkill -f 'dp-(old|new)'; pkill -f peer-xds; while pgrep -f 'dp-(old|new)|peer-xds|peer-backend' >/dev/null; do sleep 0.2; done
taskset -c 1 $B/peer-backend -http a=127.0.0.1:29001 >/dev/null 2>&1 &
i=0
for n in old new; do
  x=$((29450+i*10)); a=$((29451+i*10)); i=$((i+1))
  taskset -c 1 $B/peer-xds -config-dir $D/dp/$n/config -xds-address 127.0.0.1:$x > $D/dp/$n/xds.log 2>&1 &
  (cd $D/dp/$n && HOME=$D/dp/$n GOMAXPROCS=1 taskset -c 0 $D/dp-$n --xds-server 127.0.0.1:$x --admin-address 127.0.0.1:$a --access-log off > dp.log 2>&1 &)
done
for k in $(seq 50); do c1=$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:29400/); c2=$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:29410/); [ "$c1$c2" = 200200 ] && break; sleep 0.2; done
for t in old:29400 new:29410; do
  n=${t%%:*}; p=${t##*:}; pid=$(pgrep -f "dp-$n --xds")
  if [ "${MODE:-http1}" = h2 ]; then
    (taskset -c 1 h2load -t1 -c8 -m8 -D 7 https://localhost:$((p+2))/ > /tmp/cnt-$n.txt 2>&1 &)
  else
    (taskset -c 1 wrk -t1 -c64 -d7s http://127.0.0.1:$p/ > /tmp/cnt-$n.txt 2>&1 &)
  fi
  sleep 1
  perf stat -e syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto -p $pid -- sleep 5 2> /tmp/perf-$n.txt
  sleep 2
  rps=$(awk '/Requests\/sec/{print $2} /^finished in/{print $4}' /tmp/cnt-$n.txt)
  awk -v n=$n -v r=$rps '/syscalls/{gsub(",","",$1); printf "%s %s per request: %.2f (req/s %s)\n", n, $2, $1/(r*5), r}' /tmp/perf-$n.txt
done
pkill -f peer-backend; pkill -f 'dp-(old|new)'; pkill -f peer-xds
