#!/bin/bash
# system calls per request of two data planes under wrk -c64 (HTTP/1.1), harness pinning.
D=/work/scratch/s42; B=/work/main/.cache/bin
cleanup(){ pkill -f peer-backend; pkill -f "$D/bin-"; pkill -f peer-xds; while pgrep -f "peer-xds|peer-backend|$D/bin-" >/dev/null; do sleep 0.2; done; }
cleanup
cp -f $A_BIN $D/bin-old; cp -f $B_BIN $D/bin-new
taskset -c 1 $B/peer-backend -http a=127.0.0.1:29001 >/dev/null 2>&1 &
i=0
for n in old new; do x=$((29450+i*10)); a=$((29451+i*10)); i=$((i+1))
  taskset -c 1 $B/peer-xds -config-dir $D/dp/$n/config -xds-address 127.0.0.1:$x > $D/dp/$n/xds.log 2>&1 &
  (cd $D/dp/$n && env HOME=$D/dp/$n GOMAXPROCS=1 taskset -c 0 $D/bin-$n --xds-server 127.0.0.1:$x --admin-address 127.0.0.1:$a --access-log off > dp.log 2>&1 &)
done
sleep 3
for r in 1 2; do for t in old:29400 new:29410; do n=${t%%:*}; p=${t##*:}; pid=$(pgrep -f "$D/bin-$n --xds")
  taskset -c 1 wrk -t1 -c64 -d7s http://127.0.0.1:$p/ > /tmp/wrk-$n.txt & w=$!
  sleep 1.5
  out=$(perf stat -x, -e syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_pwait -p $pid -- sleep 4 2>&1)
  wait $w
  rps=$(awk '/Requests\/sec/{print $2}' /tmp/wrk-$n.txt)
  echo "$out" | awk -F, -v n=$n -v r=$rps '{c[$3]=$1} END{printf "%s rps=%s recvfrom/req=%.2f sendto/req=%.2f epoll/req=%.3f\n", n, r, c["syscalls:sys_enter_recvfrom"]/(r*4), c["syscalls:sys_enter_sendto"]/(r*4), c["syscalls:sys_enter_epoll_pwait"]/(r*4)}'
done; done
cleanup
