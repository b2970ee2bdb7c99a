import re,collections,statistics as S
L=open('tr-compact.txt').read().splitlines()
ev=[]
for l in L:
    m=re.match(r'\s*([\d.]+) G=(-?\d+) (.*)',l)
    if not m: continue
    t=float(m.group(1)); g=int(m.group(2)); rest=m.group(3)
    lm=re.search(r'Category="(\w+)" Message="c=(0x[0-9a-f]+) (?:id=(\d+)|bytes=(\d+))"',rest)
    if lm:
        ev.append((t,g,'log',lm.group(1),lm.group(2),int(lm.group(3) or lm.group(4))))
        continue
    gm=re.search(r'GoID=(\d+) (\w+)->(\w+) Reason="([^"]*)"',rest)
    if gm: ev.append((t,int(gm.group(1)),'st',gm.group(2),gm.group(3),gm.group(4)+'|'+rest.split('|')[1].strip()))
# per stream
cur={}  # goroutine -> (c,id)
S_={}
pending=collections.defaultdict(list) # c -> [(id)] encoded not flushed
batches=[]; lastreader=None
for e in ev:
    t,g=e[0],e[1]
    if e[2]=='log':
        cat,c,v=e[3],e[4],e[5]
        if cat=='hdr':
            S_[(c,v)]={'hdr':t}
            if lastreader and lastreader[0]==g and lastreader[1]==c and t-lastreader[2]<20: batches[-1].append((c,v))
            else: batches.append([(c,v)])
            lastreader=(g,c,t)
        elif cat=='run':
            cur[g]=(c,v); S_.setdefault((c,v),{})['run']=t
        elif cat=='enc':
            S_.setdefault((c,v),{})['enc']=t; pending[c].append(v)
        elif cat=='flush':
            for i in pending[c]: S_[(c,i)]['flush']=t; S_[(c,i)]['fn']=len(pending[c])
            pending[c]=[]
    else:
        _,gid,_k,a,b,why=e
        if gid in cur and a=='Running' and b=='Waiting' and why.startswith('network') and 'sendAwait' in why:
            s=S_[cur[gid]]
            if 'up' not in s: s['up']=t
        if gid in cur and a=='Waiting' and b=='Runnable':
            s=S_[cur[gid]]
            if 'up' in s and 'resp' not in s: s['resp']=t
# convoy: for each batch of hdrs, how many distinct flushes
split=collections.Counter(); sizes=collections.Counter()
for b in batches:
    fl=set(S_[k].get('flush') for k in b if 'flush' in S_.get(k,{}))
    if all('flush' in S_.get(k,{}) for k in b):
        sizes[len(b)]+=1; split[(len(b),len(fl))]+=1
print('hdr batch sizes',sorted(sizes.items()))
print('batch size -> number of flushes', sorted(split.items()))
# phases
def d(a,b):
    v=[s[b]-s[a] for s in S_.values() if a in s and b in s]
    v.sort(); 
    return 'n=%d p50 %.0f p90 %.0f p99 %.0f'%(len(v),v[len(v)//2],v[int(len(v)*.9)],v[int(len(v)*.99)])
for a,b in [('hdr','run'),('run','up'),('up','resp'),('resp','enc'),('enc','flush'),('hdr','flush')]:
    print(a,'->',b,d(a,b))
print('--- 8-batches')
ups=[];resps=[];nres=collections.Counter();runs=[]
for b in batches:
    if len(b)!=8: continue
    ss=[S_.get(k,{}) for k in b]
    if not all('up' in s and 'resp' in s and 'run' in s for s in ss): continue
    u=[s['up'] for s in ss]; r=[s['resp'] for s in ss]; rn=[s['run'] for s in ss]
    ups.append(max(u)-min(u)); resps.append(max(r)-min(r)); runs.append(max(rn)-min(rn))
    nres[len(set(round(x) for x in r))]+=1
def q(v): v=sorted(v); return 'p10 %.0f p50 %.0f p90 %.0f'%(v[len(v)//10],v[len(v)//2],v[int(len(v)*.9)])
print('run spread',q(runs)); print('up spread',q(ups)); print('resp spread',q(resps)); print('distinct resp wake times',sorted(nres.items()))
print('--- examples')
k=0
for b in batches:
    if len(b)!=8: continue
    ss=[S_.get(x,{}) for x in b]
    if not all('flush' in s and 'resp' in s for s in ss): continue
    k+=1
    if k<200 or k>204: continue
    t0=min(s['hdr'] for s in ss)
    for x,s in zip(b,ss):
        print(x[0][-4:],x[1], ' '.join('%s=%.0f'%(n,s[n]-t0) for n in ('hdr','run','up','resp','enc','flush')), 'fn',s.get('fn'))
    print()
