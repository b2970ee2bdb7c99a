#!/usr/bin/env bash
# usage: syscount.sh PROXY SCENARIO TAG  -- runs peerbench (40 s measured) and counts the proxy's syscalls per request in a 5 s window
set -u
proxy=$1 scen=$2 tag=$3
repo=/work/wt-perf-h1sys
out=/tmp/h1sys/run-$tag; mkdir -p $out
base=29000
( cd $repo && GOMAXPROCS=2 .cache/bin/peerbench -bin .cache/bin -out $out -proxies $proxy -scenarios $scen -routes 0 -duration 40s -nice -10 -port-base $base >$out/peerbench.log 2>&1 ) &
pb=$!
# wait for the proxy's measured wrk (-d40s)
for i in $(seq 120); do pgrep -f "wrk .*-d40s.*:29[1-4]" >/dev/null && break; sleep 0.5; done
sleep 4
case $proxy in
  edgeway) pid=$(pgrep -f 'edgeway standalone' | head -1);;
  haproxy) pid=$(pgrep -x haproxy | head -1);;
  nginx) pid=$(pgrep -x nginx | head -1);;
esac
if [ $proxy = edgeway ]; then
  perf probe -q -d 'probe_edgeway:*' 2>/dev/null
  exe=/work/wt-perf-h1sys/.cache/bin/edgeway
  perf probe -q -x $exe -a 'sdl=internal/poll.setDeadlineImpl' 2>/dev/null
  perf probe -q -x $exe -a 'tmod=runtime.(*timer).modify' 2>/dev/null
  perf probe -q -x $exe -a 'tstop=runtime.(*timer).stop' 2>/dev/null
  perf probe -q -x $exe -a 'gsched=runtime.goschedImpl' 2>/dev/null
  probes="-e probe_edgeway:sdl -e probe_edgeway:tmod -e probe_edgeway:tstop -e probe_edgeway:gsched"
else
  probes=""
fi
stats() { curl -s http://127.0.0.1:$((base+5))/stats; }
s0=$(stats)
cpu0=$(awk '{print $14+$15}' /proc/$pid/stat)
perf stat -x, -e 'syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_futex,syscalls:sys_enter_nanosleep,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_tgkill,syscalls:sys_enter_getpid,syscalls:sys_enter_readv,syscalls:sys_enter_writev,syscalls:sys_enter_sched_yield,raw_syscalls:sys_enter' \
  -e 'syscalls:sys_exit_read' --filter 'ret == -11' -e 'syscalls:sys_exit_recvfrom' --filter 'ret == -11' $probes -p $pid -o $out/perfstat.txt -- sleep 5
s1=$(stats)
cpu1=$(awk '{print $14+$15}' /proc/$pid/stat)
echo "pid $pid stats before $s0 after $s1 cpu ticks $cpu0 -> $cpu1" > $out/window.txt
perf probe -q -d "probe_edgeway:*" 2>/dev/null
wait $pb
cat $out/window.txt $out/perfstat.txt
