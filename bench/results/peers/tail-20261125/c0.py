import sys,re,collections
P=sys.argv[1]
C=collections.Counter(); D=collections.defaultdict(float); idle=0.0
out=None
for l in sys.stdin:
    m=re.search(r'\[000\] ([\d.]+): +sched:sched_switch: prev_comm=(\S+) prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=(\S+) next_pid=(\d+)',l)
    if not m: continue
    t,pc,pp,st,nc,np=m.groups(); t=float(t)
    if pc==P and nc!=P:
        out=(t,st,nc)
    elif nc==P and out:
        t0,st0,nc0=out; C[(st0,nc0)]+=1; D[(st0,nc0)]+=t-t0; out=None
for k,v in C.most_common(10): print(v,k,'total ms %.1f mean us %.0f'%(D[k]*1e3,D[k]/v*1e6))
