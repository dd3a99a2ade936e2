"""Gunicorn configuration: `gunicorn -c gunicorn.conf.py koordinointi.wsgi`, every value from the
environment (GUNICORN_BIND, GUNICORN_WORKERS, GUNICORN_THREADS, GUNICORN_WORKER_CLASS,
GUNICORN_TIMEOUT, FORWARDED_ALLOW_IPS).

The defaults (2 gthread workers of 4 threads each) are the configuration chosen by measurement
on the 2-core machine, the case detail under wrk with 4 connections (docs/benchmarks.md, "The
HTTP server's configuration"): one worker process per core, and threads so that a worker goes
on serving while a request waits on the database (its commit, SQLite's write lock) and keeps
connections alive; sync workers close the connection after every response.

The access log leaves out query strings, referrers and user agents: paths carry only UUIDs, but a
query string may carry filters (names, dates of birth) that must not reach log files.
"""

import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {value!r}") from None


wsgi_app = "koordinointi.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")
workers = _int("GUNICORN_WORKERS", 2)
# "gthread" (threads in each worker process), or "sync" (one request at a time, no keep-alive).
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = _int("GUNICORN_THREADS", 4)
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# A worker is replaced after this many requests (with jitter), so that no leak grows for ever.
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 100)
# Request line and header limits well below gunicorn's maxima: nothing of ours needs more.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# Addresses of the reverse proxies whose X-Forwarded-* headers are believed (comma separated).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-")
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Method, path without its query string, status, bytes, time in microseconds.
access_log_format = '%(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(D)sus'


def post_worker_init(worker):
    """Each worker, once the app is loaded, starts the access log's sequencer thread (background
    sequencing only): an advisory lock lets one of all the app servers' workers lead per chain,
    and another takes over when it goes (audit/sequencer.py)."""
    from audit import sequencer

    sequencer.start_in_background()
