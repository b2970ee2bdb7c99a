#!/bin/bash
# alternated harness runs, h2 only, HAProxy and edgeway: old (benchclone at 4f94082) and new (main)
for i in 1 2 3; do
  for t in old:/work/benchclone new:/work/main; do
    n=${t%%:*}; d=${t##*:}
    (cd $d && BENCH_SCENARIOS=h2 BENCH_PROXIES=haproxy,edgeway BENCH_ROUTES=0 BENCH_PROFILE=0 make bench-peers > /tmp/hab-$n-$i.log 2>&1)
    echo "$n $i: $(grep '^| h2 | haproxy | [0-9]* /' /tmp/hab-$n-$i.log)"
  done
done
