import sys,re,collections,subprocess
n,proxy=sys.argv[1],sys.argv[2]   # proxy comm on core 0: haproxy or exe
off=float(open(f'corr-{n}.off').read())
# sched timeline per cpu: list of (t_switch, next_comm)
tl={0:[],1:[]}
out=subprocess.run(['perf','script','-i',f'corr-{n}.data','-F','cpu,time,trace'],capture_output=True,text=True).stdout
for l in out.splitlines():
    m=re.match(r'\s*\[(\d+)\]\s+([\d.]+):\s+prev_comm=(.+?) prev_pid=\d+ .*prev_state=(\S+) ==> next_comm=(.+?) next_pid',l)
    if m:
        c=int(m.group(1)); t=float(m.group(2))+off
        tl[c].append((t,m.group(5),m.group(3),m.group(4)))
t_lo=tl[0][0][0]; t_hi=tl[0][-1][0]
rows=[l.split() for l in open(f'corr-{n}.log')]
req=[(int(r[0])/1e6,int(r[2])/1e6) for r in rows]
req=[r for r in req if t_lo<=r[0]<=t_hi-0.01]
lat=sorted(x[1] for x in req); thr=lat[int(len(lat)*.99)]
# episodes by start time
B=collections.defaultdict(int)
for s,l in req:
    if l>thr: B[int((s-t_lo)*1000)]+=1
eps=[]
for b in sorted(B):
    if eps and b-eps[-1][1]<=2: eps[-1][1]=b; eps[-1][2]+=B[b]
    else: eps.append([b,b,B[b]])
big=[e for e in eps if e[2]>=20]
def busy(c,a,b,skip):
    # time per comm on cpu c within [a,b]
    acc=collections.Counter(); L=tl[c]
    for i in range(len(L)-1):
        s,nc=L[i][0],L[i][1]; e=L[i+1][0]
        if e<a or s>b: continue
        d=min(e,b)-max(s,a)
        if d>0: acc[nc if nc not in skip else 'proxy/load']+=d
    return acc
import random
def classify(a,b):
    c0=busy(0,a,b,{proxy}); c1=busy(1,a,b,{'wrk','peer-backend','h2load'})
    f0={k:v for k,v in c0.items() if k!='proxy/load'}; f1={k:v for k,v in c1.items() if k!='proxy/load'}
    return f0,f1
print(f"{n}: {len(req)} requests in the perf window ({t_hi-t_lo:.2f} s), p99 {thr*1e3:.2f} ms, episodes>=20 slow: {len(big)}, holding {sum(e[2] for e in big)} of {sum(B.values())} slow")
cls=collections.Counter()
for e in big:
    a=t_lo+e[0]/1000-0.003; b=t_lo+(e[1]+1)/1000+0.001
    f0,f1=classify(a,b)
    top0=sorted(f0.items(),key=lambda x:-x[1])[:3]; top1=sorted(f1.items(),key=lambda x:-x[1])[:3]
    m0=max([v for k,v in f0.items() if not k.startswith('swapper')] or [0]); m1=max([v for k,v in f1.items() if not k.startswith('swapper')] or [0])
    cls['another task took the proxy core >=0.5 ms' if m0>=0.0005 else ('another task took the load core >=0.5 ms' if m1>=0.0005 else 'neither')]+=1
    print("  ep %4d-%4d ms slow=%3d core0: %s | core1: %s"%(e[0],e[1],e[2]," ".join(f"{k}:{v*1e6:.0f}us" for k,v in top0)," ".join(f"{k}:{v*1e6:.0f}us" for k,v in top1)))
print("  classes:", dict(cls))
# baseline: random windows of 5 ms
random.seed(1); tot0=collections.Counter(); tot1=collections.Counter(); N=200
for i in range(N):
    a=random.uniform(t_lo,t_hi-0.006); f0,f1=classify(a,a+0.005)
    for k,v in f0.items(): tot0[k]+=v/N
    for k,v in f1.items(): tot1[k]+=v/N
print("  random 5 ms windows, mean us: core0:", " ".join(f"{k}:{v*1e6:.0f}" for k,v in tot0.most_common(4)), "| core1:", " ".join(f"{k}:{v*1e6:.0f}" for k,v in tot1.most_common(4)))
