import re,sys,collections
for n in ('hap','new'):
    ev=[]
    for l in open(f'rec-{n}.txt'):
        m=re.search(r'sys_enter_(\w+): fd: (0x[0-9a-f]+)(?:.*?(?:len|size): (0x[0-9a-f]+))?',l)
        if m: ev.append((m.group(1),int(m.group(2),16),int(m.group(3),16) if m.group(3) else 0))
        elif 'epoll' in l: ev.append(('epoll',0,0))
    sends=collections.defaultdict(list)
    for e,fd,ln in ev:
        if e=='sendto': sends[fd].append(ln)
    # downstream: the 8 fds with largest average sendto len variance? use fds whose count is highest
    tot=collections.Counter({fd:len(v) for fd,v in sends.items()})
    print(n,'fds',len(sends),'top counts',tot.most_common(10))
    avg={fd:sum(v)/len(v) for fd,v in sends.items()}
    print(' avg len of top:',[(hex(fd),round(avg[fd])) for fd,_ in tot.most_common(10)])
    # len histograms per fd class: those with len varying (downstream) 
    ds=[fd for fd,v in sends.items() if len(set(v))>3]
    print(' fds with varying len:',len(ds))
    h=collections.Counter()
    for fd in ds: h.update(sends[fd])
    print(' downstream len histogram top:',sorted(h.most_common(12)))
    polls=sum(1 for e in ev if e[0]=='epoll')
    nds=sum(len(sends[fd]) for fd in ds); nus=sum(len(v) for fd,v in sends.items() if fd not in ds)
    print(' polls',polls,'downstream writes',nds,'upstream writes',nus, 'ds writes/poll %.2f us writes/poll %.2f'%(nds/polls,nus/polls))
