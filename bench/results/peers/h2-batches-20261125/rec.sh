#!/bin/bash
# perf record sendto (fd,len) for haproxy and edgeway under h2 load
set -u
D=/work/scratch/s42; B=/work/main/.cache/bin
cleanup(){ [ -f $D/hap.pid ] && kill $(cat $D/hap.pid) 2>/dev/null; rm -f $D/hap.pid; pkill -f peer-backend; pkill -f "$D/bin-"; pkill -f peer-xds; while pgrep -f "peer-xds|peer-backend|$D/bin-" >/dev/null; do sleep 0.2; done; }
cleanup
cp -f ${B_BIN} $D/bin-new
taskset -c 1 $B/peer-backend -http a=127.0.0.1:29001 >/dev/null 2>&1 &
taskset -c 1 $B/peer-xds -config-dir $D/dp/new/config -xds-address 127.0.0.1:29460 > $D/dp/new/xds.log 2>&1 &
(cd $D/dp/new && HOME=$D/dp/new GOMAXPROCS=1 taskset -c 0 $D/bin-new --xds-server 127.0.0.1:29460 --admin-address 127.0.0.1:29461 --access-log off > dp.log 2>&1 &)
taskset -c 0 haproxy -f $D/haproxy.cfg -D -p $D/hap.pid
for k in $(seq 50); do c2=$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:29410/); [ "$c2" = 200 ] && break; sleep 0.2; done
for t in hap:29430 new:29410; do
  n=${t%%:*}; p=${t##*:}
  if [ $n = hap ]; then pid=$(cat $D/hap.pid); else pid=$(pgrep -f "$D/bin-$n --xds"); fi
  (taskset -c 1 h2load -t1 -c8 -m8 -D 5 https://localhost:$((p+2))/ > /tmp/rec-$n.txt 2>&1 &)
  sleep 1.5
  perf record -q -e syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait -p $pid -o $D/rec-$n.data -- sleep 2 2>/dev/null
  sleep 2.5
  perf script -i $D/rec-$n.data -F event,trace > $D/rec-$n.txt 2>/dev/null
  ls -la /proc/$pid/fd 2>/dev/null | grep -c socket
done
cleanup
