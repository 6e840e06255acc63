import po, json, importlib, re, sys, datetime
tl=po.parse('../LC_MESSAGES/django.po')
T={}
for n in range(1,8):
    m=importlib.import_module('c%02d'%n)
    dup=set(T)&set(m.T)
    if dup and n<7: print('dup',dup)
    T.update(m.T)
print('translations',len(T),'entries',len(tl)-1)
missing=[i for i in range(1,len(tl)) if i not in T]; print('missing',missing)
hdr=tl[0]
hdr['comments']=['# Tagalog / Filipino translation of the Hello Work online counselling reservation portal.',
 '# The source language is Japanese; update with `manage.py makemessages` (see README).',
 '# Glossary: locale/glossary-tl.md']
hdr['flags']=[f for f in hdr['flags'] if f!='fuzzy']
now=datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=9))).strftime('%Y-%m-%d %H:%M+0900')
H=hdr['msgstr']
for k,v in [('Project-Id-Version','hellowork'),('PO-Revision-Date',now),('Last-Translator','Hello Work Isesaki portal team'),('Language-Team','Tagalog / Filipino'),('Language','tl'),('Plural-Forms','nplurals=2; plural=(n > 1);')]:
    H=re.sub(r'^%s:.*$'%re.escape(k),'%s: %s'%(k,v),H,flags=re.M)
hdr['msgstr']=H
for i,e in enumerate(tl):
    if i==0 or i not in T: continue
    v=T[i]
    if e['msgid_plural'] is not None:
        assert isinstance(v,list) and len(v)==2,(i,v)
        e['msgstr_n']={0:v[0],1:v[1]}
    else:
        assert isinstance(v,str),i
        e['msgstr']=v
    e['flags']=[f for f in e['flags'] if f!='fuzzy']
po.write(tl,'../LC_MESSAGES/django.po')
