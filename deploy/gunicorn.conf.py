"""gunicorn for the portal: `gunicorn -c deploy/gunicorn.conf.py hellowork.wsgi`.

Sync workers behind nginx: nginx reads every request body and buffers every response
before a worker is involved (deploy/nginx/hellowork.conf), so a slow client holds an
nginx connection, never a worker. Without nginx in front, sync workers can be held by
slow clients: do not expose this port.

The environment may override: GUNICORN_BIND (default 127.0.0.1:8000), WEB_CONCURRENCY
(workers; default 2 × CPUs + 1), GUNICORN_TIMEOUT (seconds; default 30).
"""

import multiprocessing
import os

wsgi_app = "hellowork.wsgi:application"
bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")]
worker_class = "sync"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))

# A request may take this long before its worker is replaced: every outside call in a
# request is bounded far below it (Zoom and mail run in the task worker, not here).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 2
# Recycle workers now and then so that no slow leak grows for ever.
max_requests = 2000
max_requests_jitter = 200

# X-Forwarded-Proto is trusted from nginx on the same host only.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Logs to standard output/error (the journal under systemd). The access log has no client
# address and masks private-link tokens like every other log line (rule 15).
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
logger_class = "hellowork.access_log.AccessLogger"
access_log_format = '%(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(f)s"'
proc_name = "hellowork"
