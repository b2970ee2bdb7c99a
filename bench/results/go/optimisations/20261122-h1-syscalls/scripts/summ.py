import sys,re,glob,json
for d in sys.argv[1:]:
    w=open(d+'/window.txt').read()
    m=re.search(r'before (\{.*?\}) after (\{.*?\}) cpu ticks (\d+) -> (\d+)',w)
    b,a=json.loads(m.group(1)),json.loads(m.group(2))
    req=sum(a[k]-b[k] for k in a)
    ticks=int(m.group(4))-int(m.group(3))
    c={}
    for line in open(d+'/perfstat.txt'):
        p=line.strip().split(',')
        if len(p)>3 and p[0].isdigit():
            name=p[2]
            if name in c: name=name+'#eagain'
            c[name]=int(p[0])
    r=c['syscalls:sys_enter_write']/2 if c.get('syscalls:sys_enter_write') else c['syscalls:sys_enter_sendto']/2
    ea=c.get('syscalls:sys_exit_read',0)+c.get('syscalls:sys_exit_recvfrom',0)
    print(f"{d.split('/')[-1]:32s} req {req:7d} cpu/req {ticks*10000/req:6.1f}us  per req: all {c['raw_syscalls:sys_enter']/r:.2f} read {c['syscalls:sys_enter_read']/r:.2f} write {c['syscalls:sys_enter_write']/r:.2f} recvfrom {c['syscalls:sys_enter_recvfrom']/r:.2f} EAGAIN {ea/r:.2f} epoll {(c['syscalls:sys_enter_epoll_pwait']+c['syscalls:sys_enter_epoll_wait'])/r:.3f} futex {c['syscalls:sys_enter_futex']/r:.3f}" + (f" | deadline changes {c.get('probe_edgeway:sdl',0)/r:.2f} timer modify {c.get('probe_edgeway:tmod',0)/r:.2f} stop {c.get('probe_edgeway:tstop',0)/r:.2f} gosched {c.get('probe_edgeway:gsched',0)/r:.2f}" if 'probe_edgeway:sdl' in c else ""))
