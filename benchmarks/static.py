"""The static-file scenarios: appserver ``--static`` against nginx and WhiteNoise.

Contract: ``FILES`` maps each static scenario to the file it asks for
(``/static/<name>``, ``size`` random bytes); ``make_dir(workdir)`` writes
them into ``workdir/static`` (readable by nginx's workers, which run as
nobody when the harness is root) and returns that directory. A static
scenario runs three servers over the same directory: appserver with
``--static /static/=DIR`` (``appserver_args``: the app is never called for
those paths), ``gunicorn`` serving ``benchmarks/apps/static.py`` (WhiteNoise
around the hello app, the Django teams' usual way), and ``nginx``, the
ceiling: ``nginx_argv(port, workers, directory, confdir)`` writes a
foreground nginx config (the same worker count, ``sendfile``,
``tcp_nopush``, no access log as appserver and Gunicorn have none by
default, ``GET /`` answers 200 for the harness's readiness check) and
returns its command line. ``evaluate(summary)`` returns issue 24's target
rows ``(label, goal, measured, met, note)``: appserver's CPU per request
over nginx's and over WhiteNoise-under-Gunicorn's, with the per-round range
(round i over round i); ``parts(summary)`` is the Markdown section the
report adds when a static scenario ran.
"""
import os
import shutil

from benchmarks import stats

PREFIX = "/static/"
FILES = {"static-10k": ("10k.bin", 10 * 1024), "static-10m": ("10m.bin", 10 * 1024 * 1024)}
SERVERS = ("appserver", "gunicorn", "nginx")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes {workers};
{user}
pid {confdir}/nginx-{port}.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path {confdir}/nginx-{port}-body;
    proxy_temp_path {confdir}/nginx-{port}-proxy;
    fastcgi_temp_path {confdir}/nginx-{port}-fastcgi;
    uwsgi_temp_path {confdir}/nginx-{port}-uwsgi;
    scgi_temp_path {confdir}/nginx-{port}-scgi;
    server {{
        listen 127.0.0.1:{port};
        location = / {{ return 200 "ok\\n"; }}
        location {prefix} {{ alias {directory}/; }}
    }}
}}
"""


def path(scenario_name):
    """The URL path a static scenario requests."""
    return PREFIX + FILES[scenario_name][0]


def make_dir(workdir):
    """``workdir/static`` holding every file of ``FILES``; returns its path."""
    directory = workdir / "static"
    directory.mkdir(exist_ok=True)
    for name, size in FILES.values():
        with open(directory / name, "wb") as f:
            f.write(os.urandom(min(size, 1 << 20)) * max(1, size >> 20))
    for place in (workdir, directory):     # nginx's workers read it as nobody
        os.chmod(place, 0o755)
    for name, _ in FILES.values():
        os.chmod(directory / name, 0o644)
    return directory


def appserver_args(directory):
    """What appserver's command line adds in a static scenario."""
    return ["--static", "%s=%s" % (PREFIX, directory)]


def nginx_argv(port, workers, directory, confdir):
    """Write nginx's config for ``port`` into ``confdir``; its command line."""
    user = "user nobody nogroup;" if os.geteuid() == 0 else ""
    conf = confdir / ("nginx-%d.conf" % port)
    conf.write_text(NGINX_CONF.format(workers=workers, user=user, confdir=confdir,
                                      port=port, prefix=PREFIX, directory=directory))
    return [NGINX, "-p", str(confdir), "-c", str(conf), "-e", "stderr"]


def missing():
    """Install hints for what the static scenarios need and lack."""
    out = []
    if not os.path.exists(NGINX):
        out.append("nginx is not installed (static scenarios): apt-get install nginx")
    try:
        import whitenoise  # noqa: F401
    except ImportError:
        out.append("WhiteNoise is not installed (static scenarios): pip install whitenoise")
    return out


# (label, scenario, the server appserver is divided by, limit)
TARGETS = (
    ("static 10 KiB: CPU per request vs nginx", "static-10k", "nginx", 2.0),
    ("static 10 KiB: CPU per request vs WhiteNoise under Gunicorn", "static-10k",
     "gunicorn", 0.2),
    ("static 10 MiB: CPU per request vs nginx", "static-10m", "nginx", 2.0),
    ("static 10 MiB: CPU per request vs WhiteNoise under Gunicorn", "static-10m",
     "gunicorn", 0.2),
)
METRIC = "cpu_us_per_req"


def evaluate(summary):
    """Rows (label, goal, measured, met, note) for issue 24's targets."""
    rows = []
    for label, scenario, other, limit in TARGETS:
        goal = "≤ %.2fx" % limit
        entry = summary.get(scenario)
        if entry is None or other not in entry["values"]:
            rows.append((label, goal, None, None, "not run"))
            continue
        value = stats.ratio(entry["appserver"][METRIC], entry[other][METRIC])
        mine, theirs = entry["values"]["appserver"][METRIC], entry["values"][other][METRIC]
        note = stats._paired_range(mine, theirs)
        rows.append((label, goal, value, None if value is None else value <= limit, note))
    return rows


def table(summary):
    """CPU µs per request and req/s of the three servers, per static scenario."""
    out = ["| scenario | appserver `--static` | nginx | WhiteNoise under Gunicorn |",
           "|---|---|---|---|"]
    for name in FILES:
        entry = summary.get(name)
        if entry is None:
            continue
        cells = []
        for server in SERVERS:
            figures = entry.get(server) or {}
            cells.append("%s µs, %s req/s" % (_num(figures.get(METRIC)),
                                             _num(figures.get("rps"))))
        out.append("| `%s` | %s | %s | %s |" % (name, cells[0], cells[2], cells[1]))
    return "\n".join(out)


def _num(value):
    from benchmarks.report import num
    return num(value)


def parts(summary):
    """The report's static section (a list of Markdown lines), or []."""
    if not any(name in summary for name in FILES):
        return []
    from benchmarks.report import targets_table
    return ["", "### Static files (issue 24)", "",
            "CPU per request and requests per second, medians over the rounds; in these "
            "scenarios the Gunicorn column above is WhiteNoise under Gunicorn's sync worker:",
            "", table(summary), "", targets_table(evaluate(summary))]
