import re,sys
# compact view of go tool trace -d=parsed
evs=[];cur=None;mode=None
for l in open('parsed.txt'):
    if l.startswith('M='):
        cur={'line':l.strip(),'ts':[],'st':[]}; evs.append(cur); mode=None; continue
    if cur is None: continue
    s=l.strip()
    if s.startswith('TransitionStack='): mode='ts'; continue
    if s.startswith('Stack='): mode='st'; continue
    if mode and s and not s.startswith('/'):
        cur[mode].append(s.split(' @ ')[0])
def short(fr):
    for f in fr:
        if 'edgeway' in f: return f.split('/')[-1]
    return fr[0].split('/')[-1] if fr else ''
out=open('tr-compact.txt','w')
t0=None
for e in evs:
    m=re.search(r'Time=(\d+)',e['line']);
    if not m: continue
    t=int(m.group(1)); t0=t0 or t
    kind=re.search(r'\d+ (\w+) ',e['line'][e['line'].find('Time='):])
    g=re.search(r' G=(-?\d+)',e['line']).group(1)
    rest=e['line'].split('Time=%d'%t,1)[1].strip()
    fr=e['ts'] or e['st']
    # first two edgeway frames
    ew=[f.split('/')[-1] for f in fr if 'edgeway' in f][:2]
    rt=[f.split('/')[-1] for f in fr if 'edgeway' not in f][:2]
    out.write('%8.1f G=%s %s | %s | %s\n'%((t-t0)/1000,g,rest[:90],' < '.join(ew),' < '.join(rt)))
