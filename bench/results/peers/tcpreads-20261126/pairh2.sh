#!/bin/bash
# pairh2.sh: h2load (8 connections x 8 streams) against two proxies at once; each proxy's CPU per request
n1=$1 p1=$2 u1=$3 n2=$4 p2=$5 u2=$6
a1=$(awk '{print $14+$15}' /proc/$p1/stat); a2=$(awk '{print $14+$15}' /proc/$p2/stat)
taskset -c 1 h2load -t1 -c8 -m8 -D10 $u1 > h1.txt 2>&1 &
taskset -c 1 h2load -t1 -c8 -m8 -D10 $u2 > h2.txt 2>&1 &
wait
b1=$(awk '{print $14+$15}' /proc/$p1/stat); b2=$(awk '{print $14+$15}' /proc/$p2/stat)
r1=$(awk '/^requests:/{print $4}' h1.txt); r2=$(awk '/^requests:/{print $4}' h2.txt)
c1=$(echo "($b1-$a1)*10000/$r1" | bc -l); c2=$(echo "($b2-$a2)*10000/$r2" | bc -l)
printf "%-4s %.2f us/req (%d req, cpu %.2f) | %-4s %.2f us/req (%d req, cpu %.2f) | %s/%s %.3f\n" $n1 $c1 $r1 $(echo "($b1-$a1)/1000" | bc -l) $n2 $c2 $r2 $(echo "($b2-$a2)/1000" | bc -l) new old $( [ $n1 = new ] && echo "$c1/$c2" | bc -l || echo "$c2/$c1" | bc -l)
