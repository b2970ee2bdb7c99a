# per-round ratios from sp.sh output: edgeway over each peer, HTTP/1.1 and the split; and each proxy's split over its HTTP/1.1
import sys,re,statistics as st
R={}
for l in open(sys.argv[1]):
    m=re.match(r'round (\d+) (\S+) rps=([\d.]+) cpu_us=([\d.]+) opens=(\d+) PCT p50=([\d.]+) p90=([\d.]+) p99=([\d.]+) p995=([\d.]+)',l)
    if m: R.setdefault(m.group(1),{})[m.group(2)]=dict(rps=float(m.group(3)),cpu=float(m.group(4)),p50=float(m.group(6)),p90=float(m.group(7)),p99=float(m.group(8)),p995=float(m.group(9)))
def med(a,b,k):
    v=[R[r][a][k]/R[r][b][k] for r in R if a in R[r] and b in R[r]]
    return "%.3f(%d<1)"%(st.median(v),sum(x<1 for x in v))
for a,b in (('edge-h','hap-h'),('edge-s','hap-s'),('edge-h','ngx-h'),('edge-s','ngx-s'),('edge-s','edge-h'),('hap-s','hap-h'),('ngx-s','ngx-h')):
    print("%-7s/%-6s "%(a,b)+" ".join("%s %s"%(k,med(a,b,k)) for k in ('rps','cpu','p50','p90','p99','p995')))
