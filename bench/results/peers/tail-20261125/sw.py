import sys,re,collections
C=collections.Counter(); runs=collections.defaultdict(list); start={}
wk=collections.Counter()
cur={}
for l in sys.stdin:
    m=re.search(r'\[(\d+)\] ([\d.]+): +sched:sched_switch: prev_comm=(\S+) prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=(\S+) next_pid=(\d+)',l)
    if m:
        cpu,t,pc,pp,st,nc,np=m.groups(); t=float(t)
        if cpu=='001':
            C[(pc,st,nc)]+=1
            if pp in start: runs[pc].append(t-start[pp])
            start[np]=t; cur[cpu]=nc
        continue
    m=re.search(r'\[(\d+)\] ([\d.]+): +sched:sched_waking: comm=(\S+) pid=(\d+) .*target_cpu=(\d+)',l)
    if m and m.group(5)=='001':
        wk[(l.split()[0], m.group(3), cur.get('001','?'))]+=1
for k,v in C.most_common(14): print(v,k)
print("-- wakings to cpu1: (waker, wakee, running on cpu1)")
for k,v in wk.most_common(12): print(v,k)
import statistics
for k in ('wrk','peer-backend'):
    r=sorted(runs[k]); 
    if r: print(k,'runs',len(r),'mean us %.0f'%(1e6*sum(r)/len(r)),'p50 %.0f p90 %.0f p99 %.0f'%(1e6*r[len(r)//2],1e6*r[int(len(r)*.9)],1e6*r[int(len(r)*.99)]))
