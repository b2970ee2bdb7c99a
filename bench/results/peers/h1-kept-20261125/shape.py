import sys,re,statistics as st
rows={}
for l in open(sys.argv[1]):
    m=re.match(r'round (\d+) (\S+) rps=([\d.]+).*PCT p50=([\d.]+) p90=([\d.]+) p99=([\d.]+) p995=([\d.]+) p999=([\d.]+)',l)
    if not m: continue
    r,n=m.group(1),m.group(2); v=[float(x) for x in m.groups()[2:]]
    rows.setdefault(n,[]).append(v)
print("%-6s %8s %6s %6s %6s %6s %6s  (medians; ratios over own p50)"%("name","rps","p50","p90/50","p99/50","p995/50","p999/50"))
for n,vs in rows.items():
    md=lambda i: st.median(x[i] for x in vs)
    mr=lambda i: st.median(x[i]/x[1] for x in vs)
    print("%-6s %8.0f %6.3f %6.2f %6.2f %6.2f %6.2f   p99 %.3f"%(n,md(0),md(1),mr(2),mr(3),mr(4),mr(5),md(3)))
