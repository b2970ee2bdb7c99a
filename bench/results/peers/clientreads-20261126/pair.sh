#!/bin/bash
# pair.sh: wrk against two proxies at once (both on core 0), each proxy's CPU per request over the same window
# usage: pair.sh NAME1 PID1 URL1 NAME2 PID2 URL2
n1=$1 p1=$2 u1=$3 n2=$4 p2=$5 u2=$6
a1=$(awk '{print $14+$15}' /proc/$p1/stat); a2=$(awk '{print $14+$15}' /proc/$p2/stat)
taskset -c 1 wrk -t1 -c64 -d10s $u1 > w1.txt 2>&1 &
taskset -c 1 wrk -t1 -c64 -d10s $u2 > w2.txt 2>&1 &
wait
b1=$(awk '{print $14+$15}' /proc/$p1/stat); b2=$(awk '{print $14+$15}' /proc/$p2/stat)
r1=$(awk '/requests in/{print $1}' w1.txt); r2=$(awk '/requests in/{print $1}' w2.txt)
c1=$(echo "($b1-$a1)*10000/$r1" | bc -l); c2=$(echo "($b2-$a2)*10000/$r2" | bc -l)
printf "%s %.2f us/req (%d req, cpu %.2f)  %s %.2f us/req (%d req, cpu %.2f)  ratio %s/%s %.3f\n" $n2 $c2 $r2 $(echo "($b2-$a2)/1000" | bc -l) $n1 $c1 $r1 $(echo "($b1-$a1)/1000" | bc -l) $n2 $n1 $(echo "$c2/$c1" | bc -l)
