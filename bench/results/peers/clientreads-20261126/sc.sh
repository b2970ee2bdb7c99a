#!/bin/bash
# sc.sh NAME PID PORT: wrk through passthrough 10 s; syscalls per request (perf tracepoints), CPU per request
name=$1 pid=$2 port=$3
ev=raw_syscalls:sys_enter
for s in read write recvfrom sendto readv writev epoll_wait epoll_pwait futex sendmsg recvmsg getsockopt setsockopt; do ev="$ev,syscalls:sys_enter_$s"; done
c0=$(awk '{print $14+$15}' /proc/$pid/stat)
perf stat -e "$ev" -p $pid -x, -o perf.$name.txt -- sleep 9 &
out=$(taskset -c 1 wrk -t1 -c64 -d10s --latency ${URL:-https://localhost:$port/} 2>&1)
wait
c1=$(awk '{print $14+$15}' /proc/$pid/stat)
req=$(echo "$out" | awk '/requests in/{print $1}')
p99=$(echo "$out" | awk '$1=="99%"{print $2}')
echo "$name req=$req p99=$p99 cpu_us/req=$(echo "scale=2; ($c1-$c0)*10000/$req" | bc)"
awk -F, -v r=$req '$1+0>0{printf "  %-40s %.3f/req\n", $3, $1/(r*0.9)}' perf.$name.txt
