#!/usr/bin/env bash
# usage: syscount.sh PROXY SCENARIO TAG [EDGEWAY_BINARY]
# Runs peerbench (20 s measured, PROXY alone pinned to CPU 0, wrk/h2load and the
# backend on CPU 1) and, 4 s into the measured run, counts the proxy's system
# calls for 5 s with perf stat; vmstat runs alongside for steal.
set -u
proxy=$1 scen=$2 tag=$3 exe=${4:-}
repo=/work/wt-perf-dpperf
out=/tmp/dpperf/runs/$tag; rm -rf $out; mkdir -p $out
base=21000
[ -n "$exe" ] && cp --remove-destination "$exe" $repo/.cache/bin/edgeway
( cd $repo && GOMAXPROCS=2 .cache/bin/peerbench -bin .cache/bin -out $out -proxies $proxy -scenarios $scen -routes 0 -duration 20s -port-base $base >$out/peerbench.log 2>&1 ) &
pb=$!
for i in $(seq 240); do pgrep -f "(wrk|h2load) .*(-d20s|-D 20).*:21[1-4]" >/dev/null && break; sleep 0.5; done
sleep 4
case $proxy in
  edgeway) pid=$(pgrep -f 'edgeway standalone' | head -1);;
  haproxy) pid=$(pgrep -x haproxy | tail -1);;
  nginx) pid=$(pgrep -x nginx | head -1);;
esac
stats() { curl -s http://127.0.0.1:$((base+5))/stats; }
s0=$(stats)
cpu0=$(awk '{print $14+$15}' /proc/$pid/stat)
vmstat 1 6 > $out/vmstat.txt &
perf stat -x, -e 'syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_splice,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_futex,syscalls:sys_enter_nanosleep,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_readv,syscalls:sys_enter_writev,syscalls:sys_enter_sched_yield,raw_syscalls:sys_enter,context-switches' \
  -e 'syscalls:sys_exit_read' --filter 'ret == -11' -e 'syscalls:sys_exit_recvfrom' --filter 'ret == -11' -e 'syscalls:sys_exit_splice' --filter 'ret == -11' -p $pid -o $out/perfstat.txt -- sleep 5
s1=$(stats)
cpu1=$(awk '{print $14+$15}' /proc/$pid/stat)
echo "pid $pid stats before $s0 after $s1 cpu ticks $cpu0 -> $cpu1" > $out/window.txt
wait $pb
cat $out/window.txt
