"""The benchmark scenarios: which app, which load, which figures.

Contract: ``SCENARIOS`` is an ordered tuple of ``Scenario``; ``by_names``
selects some by name (``ValueError`` on an unknown one). A scenario names
its app (a spec importable from ``app_dir``), the load tool (``"wrk"``, or
``"client"`` for ``benchmarks.loadclient``), the number of connections and
the tool's options, the URL ``path`` it requests, and ``servers``: None for
appserver, Gunicorn and the peers, else the servers it runs (the static
scenarios: ``benchmarks.static``); ``threads`` the threads per worker
(appserver's ``--threads``, Gunicorn gthread's), and ``peers``, when set, the
only peers it runs (a threads scenario is about Gunicorn gthread).
``uwsgi_mode`` is uWSGI's HTTP front for the scenario
(``benchmarks.servers.UWSGI_MODES``): keep-alive unless the client asks to
close (``hello-close``) or the body has no length (``big``: chunked).
``FILE_SIZE`` is the size of the file the ``file`` scenario serves (created
at run time by the runner).
"""
from dataclasses import dataclass
from pathlib import Path

from benchmarks import static

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
APPS = HERE / "apps"
DJANGO = REPO / "examples" / "django"
FILE_SIZE = 10 * 1024 * 1024


@dataclass(frozen=True)
class Scenario:
    """One workload; see the module contract."""

    name: str
    app: str
    summary: str
    tool: str = "wrk"
    connections: int = 50
    headers: tuple = ()
    script: Path = None
    slow_every: int = 0
    app_dir: Path = APPS
    path: str = "/"
    servers: tuple = None
    threads: int = 1
    peers: tuple = None
    uwsgi_mode: str = "keep-alive"


SCENARIOS = (
    Scenario("hello", "hello:application",
             "13-byte body, 50 keep-alive connections"),
    Scenario("hello-close", "hello:application",
             "13-byte body, `Connection: close` on every request",
             headers=("Connection: close",), uwsgi_mode="close"),
    Scenario("big", "big:application",
             "1 MiB streamed in 64 KiB chunks, no Content-Length",
             connections=16, uwsgi_mode="chunked"),
    Scenario("upload", "upload:application",
             "1 MiB POST body read by the app", connections=16,
             script=HERE / "lua" / "upload.lua"),
    Scenario("file", "file:application",
             "10 MiB file through `wsgi.file_wrapper`", connections=16),
    Scenario("django", "myproj.wsgi:application",
             "examples/django template view, GET /", app_dir=DJANGO),
    Scenario("mixed", "mixed:application",
             "1 in 20 requests sleeps 200 ms; p50/p99 are the fast ones",
             tool="client", slow_every=20),
    Scenario("fairness", "hello:application",
             "hello with 50 keep-alive connections, requests per connection",
             tool="client"),
    Scenario("hello-threads", "hello:application",
             "hello, 50 keep-alive connections, 4 threads per worker",
             threads=4, peers=("gthread",)),
    Scenario("mixed-threads", "mixed:application",
             "mixed with 4 threads per worker; p50/p99 are the fast ones",
             tool="client", slow_every=20, threads=4, peers=("gthread",)),
    Scenario("static-10k", "static:application",
             "10 KiB file under `/static/`, 50 keep-alive connections: appserver "
             "`--static`, nginx, WhiteNoise under Gunicorn",
             path=static.path("static-10k"), servers=static.SERVERS),
    Scenario("static-10m", "static:application",
             "10 MiB file under `/static/`, 16 keep-alive connections: appserver "
             "`--static`, nginx, WhiteNoise under Gunicorn", connections=16,
             path=static.path("static-10m"), servers=static.SERVERS),
)


def names():
    """Every scenario name, in order."""
    return [s.name for s in SCENARIOS]


def by_names(wanted):
    """The scenarios named in ``wanted`` (in suite order)."""
    unknown = set(wanted) - set(names())
    if unknown:
        raise ValueError("unknown scenario(s): %s (known: %s)"
                         % (", ".join(sorted(unknown)), ", ".join(names())))
    return [s for s in SCENARIOS if s.name in wanted]
