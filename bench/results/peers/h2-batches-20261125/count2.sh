#!/bin/bash
# syscalls per request, haproxy vs edgeway (bin-new), h2 or http1 load, 5 s each
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
EV=syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_futex,syscalls:sys_enter_nanosleep,syscalls:sys_enter_sched_yield,syscalls:sys_enter_getpid,syscalls:sys_enter_clock_gettime,sched:sched_switch,sched:sched_waking
for r in $(seq ${ROUNDS:-1}); do
for t in hap:29430 new:29410; do
  n=${t%%:*}; p=${t##*:}
  if [ $n = hap ]; then pid=$(cat $D/hap.pid); else pid=$(pgrep -f "$D/bin-$n --xds"); fi
  if [ "${MODE:-h2}" = h2 ]; then
    (taskset -c 1 h2load -t1 -c8 -m8 -D 7 https://localhost:$((p+2))/ > /tmp/cnt-$n.txt 2>&1 &)
  else
    (taskset -c 1 wrk -t1 -c64 -d7s http://127.0.0.1:$p/ > /tmp/cnt-$n.txt 2>&1 &)
  fi
  sleep 1
  perf stat -e $EV -p $pid -- sleep 5 2> /tmp/perf-$n.txt
  sleep 2
  rps=$(awk '/Requests\/sec/{print $2} /^finished in/{print $4}' /tmp/cnt-$n.txt)
  awk -v n=$n -v r=$rps '/(syscalls|sched):/{gsub(",","",$1); printf "%s %-36s %.3f/req (req/s %s)\n", n, $2, $1/(r*5), r}' /tmp/perf-$n.txt
done
done
cleanup
