#!/bin/bash
# alternated pairs: floor built with the standard runtime vs with netpoll handing out in readiness order
set -u
D=/work/scratch/fifo
pkill -f peer-backend; pkill -f floor-; sleep 0.5
taskset -c 1 /work/main/.cache/bin/peer-backend -http a=127.0.0.1:29001 >/dev/null 2>&1 &
GOMAXPROCS=1 taskset -c 0 $D/floor-std -listen 127.0.0.1:29490 -upstream 127.0.0.1:29001 >/dev/null 2>&1 &
GOMAXPROCS=1 taskset -c 0 $D/floor-fifo -listen 127.0.0.1:29491 -upstream 127.0.0.1:29001 >/dev/null 2>&1 &
sleep 1
for r in $(seq ${ROUNDS:-4}); do
  for t in ${ORDER:-std:29490 fifo:29491}; do
    n=${t%%:*}; p=${t##*:}
    taskset -c 1 wrk -t1 -c64 -d1s http://127.0.0.1:$p/ >/dev/null
    out=$(taskset -c 1 wrk -t1 -c64 -d${DUR:-8}s --latency http://127.0.0.1:$p/)
    rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
    p50=$(echo "$out" | awk '$1=="50%"{print $2}')
    p90=$(echo "$out" | awk '$1=="90%"{print $2}')
    p99=$(echo "$out" | awk '$1=="99%"{print $2}')
    echo "round $r $n rps=$rps p50=$p50 p90=$p90 p99=$p99"
  done
done
pkill -f peer-backend; pkill -f floor-
