import re, json, sys
def unq(s):
    s = s.strip()
    assert s[0]=='"' and s[-1]=='"', s
    s = s[1:-1]
    out=[];i=0
    while i<len(s):
        c=s[i]
        if c=='\\':
            n=s[i+1]; i+=2
            out.append({'n':'\n','t':'\t','"':'"','\\':'\\','r':'\r'}[n]); continue
        out.append(c); i+=1
    return ''.join(out)
def parse(path):
    entries=[]; cur=None; key=None
    def new():
        return {'comments':[], 'flags':[], 'msgctxt':None,'msgid':None,'msgid_plural':None,'msgstr':None,'msgstr_n':{}}
    cur=new()
    for line in open(path,encoding='utf-8'):
        line=line.rstrip('\n')
        if not line.strip():
            if cur['msgid'] is not None:
                entries.append(cur); cur=new(); key=None
            continue
        if line.startswith('#,'):
            cur['flags'] += [f.strip() for f in line[2:].split(',') if f.strip()]; continue
        if line.startswith('#'):
            if cur['msgid'] is not None:
                entries.append(cur); cur=new(); key=None
            cur['comments'].append(line); continue
        m=re.match(r'^(msgctxt|msgid_plural|msgid|msgstr\[(\d+)\]|msgstr)\s+(".*")$', line)
        if m:
            k=m.group(1)
            if k=='msgctxt' and cur['msgid'] is not None:
                entries.append(cur); cur=new()
            if k=='msgid' and cur['msgid'] is not None and cur['msgstr'] is not None or (k=='msgid' and cur['msgstr_n']):
                entries.append(cur); cur=new()
            v=unq(m.group(3))
            if m.group(2) is not None:
                cur['msgstr_n'][int(m.group(2))]=v; key=('n',int(m.group(2)))
            else:
                cur[k]=v; key=(k,)
            continue
        if line.startswith('"'):
            v=unq(line)
            if key[0]=='n': cur['msgstr_n'][key[1]]+=v
            else: cur[key[0]]+=v
            continue
        raise ValueError(line)
    if cur['msgid'] is not None: entries.append(cur)
    return entries
def q(s):
    s=s.replace('\\','\\\\').replace('"','\\"').replace('\t','\\t').replace('\r','\\r')
    if '\n' in s[:-1] or len(s)>70:
        parts=s.split('\n')
        lines=[p+'\\n' for p in parts[:-1]]+([parts[-1]] if parts[-1] else [])
        return '""\n'+'\n'.join('"%s"'%l for l in lines)
    return '"%s"'%s.replace('\n','\\n')
def write(entries,path):
    out=[]
    for e in entries:
        L=list(e['comments'])
        if e['flags']: L.append('#, '+', '.join(e['flags']))
        if e['msgctxt'] is not None: L.append('msgctxt '+q(e['msgctxt']))
        L.append('msgid '+q(e['msgid']))
        if e['msgid_plural'] is not None:
            L.append('msgid_plural '+q(e['msgid_plural']))
            for n in sorted(e['msgstr_n']): L.append('msgstr[%d] '%n+q(e['msgstr_n'][n]))
        else:
            L.append('msgstr '+q(e['msgstr']))
        out.append('\n'.join(L))
    open(path,'w',encoding='utf-8').write('\n\n'.join(out)+'\n')
def key(e): return (e['msgctxt'] or '')+'\x04'+e['msgid']
