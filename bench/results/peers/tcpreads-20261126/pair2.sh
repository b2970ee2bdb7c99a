#!/bin/bash
# pair2.sh: as pair.sh, plus each wrk's own CPU per request
n1=$1 p1=$2 u1=$3 n2=$4 p2=$5 u2=$6
a1=$(awk '{print $14+$15}' /proc/$p1/stat); a2=$(awk '{print $14+$15}' /proc/$p2/stat)
taskset -c 1 /usr/bin/time -f "%U %S" -o t1.txt wrk -t1 -c64 -d10s $u1 > w1.txt 2>&1 &
taskset -c 1 /usr/bin/time -f "%U %S" -o t2.txt wrk -t1 -c64 -d10s $u2 > w2.txt 2>&1 &
wait
b1=$(awk '{print $14+$15}' /proc/$p1/stat); b2=$(awk '{print $14+$15}' /proc/$p2/stat)
r1=$(awk '/requests in/{print $1}' w1.txt); r2=$(awk '/requests in/{print $1}' w2.txt)
c1=$(echo "($b1-$a1)*10000/$r1" | bc -l); c2=$(echo "($b2-$a2)*10000/$r2" | bc -l)
g1=$(awk -v r=$r1 '{print ($1+$2)*1e6/r}' t1.txt); g2=$(awk -v r=$r2 '{print ($1+$2)*1e6/r}' t2.txt)
printf "%-4s proxy %.2f wrk %.2f us/req (%d req) | %-4s proxy %.2f wrk %.2f us/req (%d req)\n" $n1 $c1 $g1 $r1 $n2 $c2 $g2 $r2
