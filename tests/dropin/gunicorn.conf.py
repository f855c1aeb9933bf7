# A gunicorn.conf.py as a sync-worker deployment of a Django project writes it
# (Gunicorn's spelling and value types throughout). The tests run it
# unchanged with `appserver -c gunicorn.conf.py myproj.wsgi`; the harness
# adds --bind (the command line wins, as with Gunicorn).
import multiprocessing
import os

cores = multiprocessing.cpu_count()

bind = "127.0.0.1:8000"
backlog = 2048
workers = 2
worker_class = "sync"
threads = 1
worker_connections = 1000
timeout = 30
graceful_timeout = 30
keepalive = 2
max_requests = 1000
max_requests_jitter = 50
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

preload_app = False
reload = False
daemon = False
raw_env = ["DJANGO_SETTINGS_MODULE=myproj.settings", "APP_FLAVOUR=gunicorn-conf"]
pidfile = os.path.join(os.environ["TESTAPP_RECORD_DIR"], "gunicorn.pid")
worker_tmp_dir = "/dev/shm"
umask = 0o027
tmp_upload_dir = None

forwarded_allow_ips = "127.0.0.1"
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}

accesslog = "-"
errorlog = "-"
loglevel = "info"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
capture_output = False

proc_name = "myproj"


def when_ready(server):
    server.log.info("Server is ready. Spawning workers")


def post_fork(server, worker):
    server.log.info("Worker spawned (pid: %s)", worker.pid)


def post_request(worker, req, environ, resp):
    worker.log.debug("%s %s -> %s", req.method, req.path, resp.status)
