#!/bin/bash
# major faults of the data plane and HAProxy after an idle spell, then again at once.
set -u
S=/work/scratch/s47; H=/work/scratch/s48; B=/work/main/.cache/bin
cleanup(){ [ -f $S/hap.pid ] && kill $(cat $S/hap.pid) 2>/dev/null; rm -f $S/hap.pid; pkill -f "peer-backend -http a=127.0.0.1:29001"; pkill -f "$H/dpbin"; pkill -f "peer-xds -config-dir $S"; while pgrep -f "peer-xds -config-dir $S|peer-backend -http a=127.0.0.1:29001|$H/dpbin" >/dev/null; do sleep 0.2; done; }
cleanup
cp -f $B/edgeway-dataplane $H/dpbin
taskset -c 1 env GOMAXPROCS=1 $B/peer-backend -http a=127.0.0.1:29001 -http b=127.0.0.1:29002 >$H/be.log 2>&1 &
taskset -c 1 $B/peer-xds -config-dir $S/A/config -xds-address 127.0.0.1:29792 > $H/xds.log 2>&1 &
(cd $S/A && env HOME=$S/A GOMAXPROCS=1 taskset -c 0 $H/dpbin --xds-server 127.0.0.1:29792 --admin-address 127.0.0.1:29782 --access-log off > $H/dp.log 2>&1 &)
taskset -c 0 haproxy -f $S/haproxy.cfg -D -p $S/hap.pid
sleep 1.5
declare -A PID=([hap]=$(cat $S/hap.pid) [ew]=$(pgrep -f "$H/dpbin --xds-server")) PORT=([hap]=29731 [ew]=29701)
mj(){ awk "{print \$12}" /proc/$1/stat; }; mn(){ awk "{print \$10}" /proc/$1/stat; }
for n in ew hap; do taskset -c 1 wrk -t1 -c64 -d3s http://127.0.0.1:${PORT[$n]}/ >/dev/null; done
for idle in ${IDLES:-90 0 90 0}; do
  sleep $idle
  for n in ew hap; do
    m0=$(mj ${PID[$n]}); n0=$(mn ${PID[$n]}); s0=$(grep pgmajfault /proc/vmstat | awk '{print $2}')
    out=$(taskset -c 1 wrk -t1 -c64 -d4s --latency -s $H/pct.lua http://127.0.0.1:${PORT[$n]}/ 2>&1)
    m1=$(mj ${PID[$n]}); n1=$(mn ${PID[$n]}); s1=$(grep pgmajfault /proc/vmstat | awk '{print $2}')
    echo "idle=$idle $n majflt=$((m1-m0)) minflt=$((n1-n0)) sys_majflt=$((s1-s0)) rps=$(echo "$out" | awk '/Requests\/sec/{print $2}') $(echo "$out" | grep ^PCT)"
  done
done
cleanup
