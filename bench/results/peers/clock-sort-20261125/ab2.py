# new/old per-round ratios over two sets with the binaries' places swapped: set1 v0=old v1=new, set2 v0=new v1=old
import sys,re,statistics as st
def load(f):
    R={}
    for l in open(f):
        m=re.match(r'round (\d+) (\S+) rps=([\d.]+) cpu_us=([\d.]+) PCT p50=([\d.]+) p90=([\d.]+) p99=([\d.]+) p995=([\d.]+) p999=([\d.]+)',l)
        if m: R.setdefault(m.group(1),{})[m.group(2)]=[float(x) for x in m.groups()[2:]]
    return R
names=['rps','cpu','p50','p90','p99','p995','p999']
rat=[]
for f,new,old in ((sys.argv[1],'v1','v0'),(sys.argv[2],'v0','v1')):
    R=load(f)
    rat+=[[R[r][new][i]/R[r][old][i] for i in range(len(names))] for r in R]
print("new/old %d pairs: "%len(rat)+" ".join("%s %.3f(%d<1)"%(n,st.median(x[i] for x in rat),sum(x[i]<1 for x in rat)) for i,n in enumerate(names)))
gm=lambda v: __import__('math').exp(sum(__import__('math').log(x) for x in v)/len(v))
print("geometric means: "+" ".join("%s %.3f"%(n,gm([x[i] for x in rat])) for i,n in enumerate(names)))
