"""The settings table: every setting of appserver, declared once.

Data, and ``pool_threads(cfg)``, which two settings decide. Each
``Setting`` record names a setting (``graceful-timeout``), its value type,
default, command-line flags, ``--help`` section and help text. The
command-line options (``cmdline.py``), the config-file keys and ``Config`` attributes
(``graceful_timeout``), the environment variables (``APPSERVER_GRACEFUL_TIMEOUT``)
and ``docs/settings.md`` are all generated from ``SETTINGS``. Values are
converted and checked by ``appserver.config.convert`` according to ``type``. What a
record holds, the value types and the sections are ``appserver.config.schema``.
"""

from typing import Any, Dict

from appserver.config.schema import (
    APPLICATION, BIND, BOOL, CHOICE, COMMAND, FLOAT, HEADER_VALUES, INT, INT_OR_AUTO,
    KEYVALUE, LIMITS, LOGGING, NETWORKS, PATH_OR_DICT, PROCESS, PROXIES, SERVER_SOCKET, STATIC, STR,
    TIMEOUTS, TLS, WORKERS, Setting)

SETTINGS = (
    # Server socket
    Setting("bind", BIND, ("127.0.0.1:8000",), ("-b", "--bind"), SERVER_SOCKET,
            "Address to listen on: HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N. "
            "Repeat to listen on several; in the environment, separate them "
            "with commas.",
            multiple=True, metavar="ADDRESS", default_env="PORT",
            default_env_format="0.0.0.0:{}",
            default_doc="127.0.0.1:8000, or 0.0.0.0:$PORT when PORT is set"),
    Setting("protocol", CHOICE, "http", ("--protocol",), SERVER_SOCKET,
            "Wire protocol of every listener: http, or uwsgi (the binary "
            "protocol of Nginx's uwsgi_pass; see docs/migrating.md). With "
            "uwsgi, the response is HTTP/1.x and each connection carries one "
            "request.", metavar="PROTOCOL", choices=("http", "uwsgi")),
    Setting("uwsgi-allow-ips", NETWORKS, "127.0.0.1,::1", ("--uwsgi-allow-ips",),
            SERVER_SOCKET,
            "With --protocol uwsgi, the peers allowed to connect: "
            "comma-separated addresses and CIDR networks, or * for any. A "
            "connection from another peer is closed at once. Unix-socket "
            "peers are always allowed.", metavar="ADDRESSES"),
    Setting("admin-bind", STR, None, ("--admin-bind",), SERVER_SOCKET,
            "Address of the admin listener, served by the arbiter itself "
            "(never by a worker): /healthz, /readyz, /status (each worker's "
            "pid, state, counters, memory and current request line, its query "
            "string hidden unless admin-show-query) and /metrics. No "
            "authentication: same forms as bind; keep it private.", metavar="ADDRESS",
            default_doc="none (no admin listener)"),
    Setting("admin-show-query", BOOL, False,
            ("--admin-show-query/--no-admin-show-query",), SERVER_SOCKET,
            "Show the query strings of the request lines on the admin "
            "listener's /status (and so in 'appserver status'). Off by "
            "default, because query strings often carry tokens: the admin "
            "listener shows '?<hidden>' instead."),
    Setting("backlog", INT, 2048, ("--backlog",), SERVER_SOCKET,
            "Maximum number of pending connections queued by the kernel.",
            metavar="INT", minimum=1),
    Setting("bind-mode", STR, None, ("--bind-mode",), SERVER_SOCKET,
            "Permissions, in octal (e.g. 660), of the unix socket files the "
            "server creates; only processes allowed by them can connect.",
            metavar="OCTAL", default_doc="none (from the umask)"),
    Setting("bind-owner", STR, None, ("--bind-owner",), SERVER_SOCKET,
            "Owner of the unix socket files the server creates, USER, "
            "USER:GROUP or :GROUP (names or numbers; changing the user needs "
            "root).", metavar="USER[:GROUP]",
            default_doc="none (the server's user)"),
    # Reverse proxies
    Setting("forwarded-allow-ips", NETWORKS, "127.0.0.1,::1",
            ("--forwarded-allow-ips",), PROXIES,
            "Proxies trusted to say who the client is: comma-separated "
            "addresses and CIDR networks, or * for any. From them, the headers "
            "chosen by forwarded-headers set REMOTE_ADDR, wsgi.url_scheme "
            "and SERVER_PORT (and HTTP_HOST with forwarded-host), and their "
            "X-Request-ID is kept; from any other peer those headers are "
            "removed. Unix-socket peers are always trusted. With *, any client "
            "can set them: a warning says so at start.",
            metavar="ADDRESSES", default_env="FORWARDED_ALLOW_IPS",
            default_doc="127.0.0.1,::1, or $FORWARDED_ALLOW_IPS when set (as "
                        "with Gunicorn)"),
    Setting("forwarded-headers", CHOICE, "x-forwarded", ("--forwarded-headers",),
            PROXIES,
            "Which headers a trusted proxy sets: x-forwarded (X-Forwarded-For, "
            "-Proto, -Host, -Port) or forwarded (RFC 7239 Forwarded). The "
            "other kind is removed, so a client cannot slip one past a proxy "
            "that does not overwrite it.",
            metavar="KIND", choices=("x-forwarded", "forwarded")),
    Setting("secure-scheme-headers", HEADER_VALUES,
            {"X-FORWARDED-PROTOCOL": "ssl", "X-FORWARDED-PROTO": "https",
             "X-FORWARDED-SSL": "on"}, ("--secure-scheme-headers",), PROXIES,
            "Headers by which a trusted proxy says whether the client used "
            "HTTPS, each with the value that means yes (names in any case, "
            "values exact), as Gunicorn's setting of that name: when one is "
            "present, wsgi.url_scheme is https if its value is that one and "
            "http if not, and a request whose headers disagree gets 400. From "
            "other peers they are removed; with forwarded-headers forwarded, "
            "Forwarded proto= is read instead and they are removed too. Empty: "
            "none is read.", metavar="NAME=VALUE,..."),
    Setting("forwarded-host", BOOL, False, ("--forwarded-host/--no-forwarded-host",),
            PROXIES,
            "Let a trusted proxy's X-Forwarded-Host (or the host= of "
            "Forwarded) set HTTP_HOST and SERVER_NAME. Off by default, as "
            "with Gunicorn: apps build "
            "absolute URLs (Django's password-reset links) from HTTP_HOST, so "
            "turn it on only when every proxy in forwarded-allow-ips sets or "
            "removes that header."),
    Setting("script-name", STR, None, ("--script-name",), PROXIES,
            "URL prefix the app is mounted at (e.g. /app): it moves from "
            "PATH_INFO to SCRIPT_NAME, and other paths get 404. A trusted "
            "proxy's X-Script-Name or X-Forwarded-Prefix header overrides it.",
            metavar="PATH", default_doc="none (mounted at /)"),
    Setting("proxy-protocol", BOOL, False, ("--proxy-protocol/--no-proxy-protocol",),
            PROXIES,
            "Every connection starts with a PROXY protocol header (v1 or v2, "
            "from HAProxy, AWS NLB and others) giving the client's address; "
            "connections from peers outside proxy-allow-ips, or without a "
            "valid header within header-timeout, are closed."),
    Setting("proxy-allow-ips", NETWORKS, "127.0.0.1,::1", ("--proxy-allow-ips",),
            PROXIES,
            "Peers allowed to send PROXY protocol headers: comma-separated "
            "addresses and CIDR networks, or *. Unix-socket peers are allowed.",
            metavar="ADDRESSES",
            aliases=("--proxy-allow-from",)),
    # TLS
    Setting("certfile", STR, None, ("--certfile",), TLS,
            "PEM certificate (chain) file; setting it serves HTTPS on every "
            "listener.", metavar="FILE", default_doc="none (plain HTTP)"),
    Setting("keyfile", STR, None, ("--keyfile",), TLS,
            "PEM private key file, when the key is not in certfile.",
            metavar="FILE", default_doc="none (the key is in certfile)"),
    Setting("ca-certs", STR, None, ("--ca-certs",), TLS,
            "PEM bundle of the CAs that client certificates are checked "
            "against.", metavar="FILE", default_doc="none"),
    Setting("cert-reqs", CHOICE, "none", ("--cert-reqs",), TLS,
            "Client certificates: none (not asked for), optional (checked if "
            "sent) or required (mutual TLS: no valid certificate, no "
            "connection).", metavar="MODE", choices=("none", "optional", "required")),
    Setting("ciphers", STR, None, ("--ciphers",), TLS,
            "OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are OpenSSL's "
            "defaults).", metavar="CIPHERS", default_doc="none (Python's defaults)"),
    Setting("tls-min-version", CHOICE, "1.2", ("--tls-min-version",), TLS,
            "Oldest TLS version accepted.", metavar="VERSION", choices=("1.2", "1.3")),
    # Worker processes
    Setting("workers", INT_OR_AUTO, 1, ("-w", "--workers"), WORKERS,
            "Number of worker processes serving requests, or 'auto' for 2 x "
            "CPUs + 1 within the CPU and memory limits of the cgroup (see "
            "docs/deploy.md).",
            metavar="INT|auto", minimum=1, default_env="WEB_CONCURRENCY",
            default_doc="1, or $WEB_CONCURRENCY when set"),
    Setting("worker-class", CHOICE, "sync", ("-k", "--worker-class"), WORKERS,
            "sync: with --threads 1 the app runs on the worker's main thread "
            "(wsgi.multithread false); gthread: on a thread of a pool of "
            "--threads threads, even with 1 (wsgi.multithread true), as "
            "Gunicorn's gthread worker does. With --threads above 1 both run "
            "a pool. Gunicorn's class paths for these two are accepted too.",
            metavar="CLASS", choices=("sync", "gthread")),
    Setting("threads", INT, 1, ("--threads",), WORKERS,
            "Requests each worker runs at once, each on its own thread (1: "
            "one at a time, no thread started). Helps apps that wait on I/O "
            "(databases, outside APIs); the app and its libraries must be "
            "thread-safe (see docs/threads.md). Gunicorn's -k gthread reads "
            "the same setting.",
            metavar="INT", minimum=1, maximum=256),
    Setting("max-requests", INT, 0, ("--max-requests",), WORKERS,
            "Restart a worker after it has served this many requests "
            "(0 disables).", metavar="INT", minimum=0),
    Setting("max-requests-jitter", INT, 0, ("--max-requests-jitter",), WORKERS,
            "Add a random 0..N to max-requests per worker, so that workers do "
            "not all restart at once.", metavar="INT", minimum=0),
    Setting("max-connections", INT, 1000, ("--max-connections",), WORKERS,
            "Maximum number of open client connections per worker.",
            metavar="INT", minimum=1),
    Setting("max-worker-lifetime", INT, 0, ("--max-worker-lifetime",), WORKERS,
            "Replace a worker after it has run this many seconds (0 disables). "
            "The replacement boots before the old worker stops.",
            metavar="SECONDS", minimum=0),
    Setting("max-worker-lifetime-jitter", INT, 0,
            ("--max-worker-lifetime-jitter",), WORKERS,
            "Add a random 0..N seconds to max-worker-lifetime per worker.",
            metavar="SECONDS", minimum=0),
    Setting("max-worker-memory", INT, 0, ("--max-worker-memory",), WORKERS,
            "Replace a worker whose resident memory (RSS) exceeds this many "
            "MiB, checked by the arbiter every second (0 disables).",
            metavar="MIB", minimum=0),
    Setting("max-boot-failures", INT, 5, ("--max-boot-failures",), WORKERS,
            "Stop the arbiter (exit code 3) after this many workers in a row "
            "die while booting; respawns back off exponentially meanwhile.",
            metavar="INT", minimum=1),
    Setting("upgrade-handoff", BOOL, True,
            ("--upgrade-handoff/--no-upgrade-handoff",), WORKERS,
            "After a USR2 upgrade, the new arbiter stops the old one once its "
            "workers are ready; with --no-upgrade-handoff the old one waits "
            "for WINCH and TERM, as with Gunicorn."),
    # Timeouts
    Setting("timeout", INT, 30, ("-t", "--timeout"), TIMEOUTS,
            "Seconds a worker may stay silent (one request running too long) "
            "before it is killed and replaced (0 disables).",
            metavar="SECONDS", minimum=0),
    Setting("graceful-timeout", INT, 30, ("--graceful-timeout",), TIMEOUTS,
            "Seconds workers get to finish their requests on a graceful stop "
            "or restart before they are killed.", metavar="SECONDS", minimum=0),
    Setting("keep-alive", FLOAT, 5.0, ("--keep-alive",), TIMEOUTS,
            "Seconds an idle keep-alive connection is kept open between "
            "requests (0 disables keep-alive).", metavar="SECONDS", minimum=0),
    Setting("shutdown-delay", FLOAT, 0.0, ("--shutdown-delay",), TIMEOUTS,
            "On TERM, keep serving this many seconds while /readyz answers "
            "503, so load balancers stop sending traffic first; then stop "
            "gracefully.", metavar="SECONDS", minimum=0),
    Setting("boot-timeout", FLOAT, 60.0, ("--boot-timeout",), TIMEOUTS,
            "Seconds a worker may take to load the app before it is killed "
            "(0 disables).", metavar="SECONDS", minimum=0),
    Setting("header-timeout", FLOAT, 10.0, ("--header-timeout",), TIMEOUTS,
            "Seconds a client has to send a complete request head.",
            metavar="SECONDS", minimum=0, exclusive_minimum=True),
    Setting("read-timeout", FLOAT, 30.0, ("--read-timeout",), TIMEOUTS,
            "Seconds to wait for more request body data.",
            metavar="SECONDS", minimum=0, exclusive_minimum=True),
    Setting("send-timeout", FLOAT, 30.0, ("--send-timeout",), TIMEOUTS,
            "Seconds to wait for a client to accept more response data.",
            metavar="SECONDS", minimum=0, exclusive_minimum=True),
    # Limits
    Setting("limit-request-line", INT, 4094, ("--limit-request-line",), LIMITS,
            "Maximum size in bytes of the request line (0 means unlimited).",
            metavar="BYTES", minimum=0, maximum=8190),
    Setting("limit-request-fields", INT, 100, ("--limit-request-fields",), LIMITS,
            "Maximum number of header fields in a request.",
            metavar="INT", minimum=0, maximum=32768),
    Setting("limit-request-field-size", INT, 8190,
            ("--limit-request-field-size",), LIMITS,
            "Maximum size in bytes of one request header field (0 means "
            "unlimited).",
            metavar="BYTES", minimum=0,
            aliases=("--limit-request-field_size",)),
    Setting("limit-request-body", INT, 0, ("--limit-request-body",), LIMITS,
            "Maximum size in bytes of a request body (0 means unlimited).",
            metavar="BYTES", minimum=0),
    # Logging
    Setting("log-level", CHOICE, "info", ("--log-level",), LOGGING,
            "Level of the error log.", metavar="LEVEL",
            choices=("debug", "info", "warning", "error", "critical")),
    Setting("access-logfile", STR, None, ("--access-logfile",), LOGGING,
            "Access log file; '-' is standard output.", metavar="FILE",
            default_doc="none (no access log)"),
    Setting("error-logfile", STR, "-", ("--error-logfile",), LOGGING,
            "Error log file; '-' is standard error.", metavar="FILE",
            default_doc="- (standard error)",
            aliases=("--log-file",)),
    Setting("access-log-format", STR, None, ("--access-log-format",), LOGGING,
            "Format of access log lines: Gunicorn-style atoms such as %(h)s "
            "%(r)s %(s)s %(b)s %(D)s %({header}i)s %({header}o)s "
            "%({variable}e)s, or 'json' for one JSON object per line (see "
            "docs/observability.md).", metavar="FORMAT",
            default_doc='the Apache combined format, %(h)s %(l)s %(u)s %(t)s '
                        '"%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
            aliases=("--access-logformat",)),
    Setting("log-config", PATH_OR_DICT, None, ("--log-config",), LOGGING,
            "A logging.config.dictConfig dictionary in a JSON or TOML file (in "
            "a config file, also the dictionary itself), applied after the "
            "settings above, for full control of the appserver and "
            "appserver.access loggers; Gunicorn's logger names (gunicorn.error, "
            "gunicorn.access) configure these.", metavar="FILE",
            default_doc="none"),
    Setting("request-id-header", STR, None, ("--request-id-header",), LOGGING,
            "Echo each request's id in a response header of this name (e.g. "
            "X-Request-ID). The id is the trusted proxy's X-Request-ID, else a "
            "new one; the app finds it in environ['appserver.request_id'].",
            metavar="NAME", default_doc="none (not echoed)"),
    Setting("slow-request", FLOAT, 0.0, ("--slow-request",), LOGGING,
            "Log a warning with the stack of a request still running after "
            "this many seconds, once per request, without stopping it (0 "
            "disables).", metavar="SECONDS", minimum=0),
    Setting("statsd-host", STR, None, ("--statsd-host",), LOGGING,
            "Push the metrics to this StatsD server (HOST:PORT) over UDP once "
            "a second.", metavar="HOST:PORT", default_doc="none (no StatsD)"),
    Setting("statsd-prefix", STR, "appserver", ("--statsd-prefix",), LOGGING,
            "Prefix of the StatsD metric names.", metavar="PREFIX"),
    # Process
    Setting("name", STR, None, ("-n", "--name"), PROCESS,
            "Name shown in the process titles (ps, top).", metavar="NAME"),
    Setting("daemon", BOOL, False, ("-D", "--daemon/--no-daemon"), PROCESS,
            "Detach from the terminal and run in the background (not under "
            "systemd or in a container, which supervise the foreground "
            "process)."),
    Setting("user", STR, None, ("-u", "--user"), PROCESS,
            "Run the workers as this user (name or uid); the arbiter keeps "
            "its user so it can rebind on upgrade.", metavar="USER",
            default_doc="none (the current user)"),
    Setting("group", STR, None, ("-g", "--group"), PROCESS,
            "Run the workers with this group (name or gid).", metavar="GROUP",
            default_doc="none (the user's group)"),
    Setting("initgroups", BOOL, False, ("--initgroups/--no-initgroups",), PROCESS,
            "Give the workers the supplementary groups of --user."),
    Setting("umask", STR, None, ("--umask",), PROCESS,
            "File mode creation mask, in octal (e.g. 027), for files the "
            "server and the app create.", metavar="OCTAL",
            default_doc="none (inherited)"),
    Setting("proctitle-requests", BOOL, False,
            ("--proctitle-requests/--no-proctitle-requests",), PROCESS,
            "Show each worker's state and current request line in its process "
            "title (costs a system call per request)."),
    Setting("pid", STR, None, ("-p", "--pid"), PROCESS,
            "Write the arbiter's process id to this file.", metavar="FILE",
            default_doc="none (no pid file)"),
    Setting("chdir", STR, None, ("--chdir",), PROCESS,
            "Change to this directory before loading the app.", metavar="DIR",
            default_doc="none (stay in the current directory)"),
    # Application
    Setting("pythonpath", STR, None, ("--pythonpath",), APPLICATION,
            "Comma-separated directories to put first on sys.path.",
            metavar="DIRS", default_doc="none"),
    Setting("env", KEYVALUE, (), ("-e", "--env"), APPLICATION,
            "Set an environment variable for the app, KEY=VALUE. Repeat for "
            "several; in the environment, separate them with commas.",
            multiple=True, metavar="KEY=VALUE", default_doc="none"),
    Setting("preload", BOOL, False, ("--preload/--no-preload",), APPLICATION,
            "Load the app in the arbiter before forking the workers."),
    Setting("reload", BOOL, False, ("--reload/--no-reload",), APPLICATION,
            "Development: when a Python module the workers loaded (or a "
            "reload-extra-file) changes, reload gracefully as on HUP; new code "
            "that fails to load is logged and the running workers keep "
            "serving."),
    Setting("reload-extra-file", STR, (), ("--reload-extra-file",), APPLICATION,
            "A file or glob pattern (templates/**/*.html) also watched by "
            "--reload. Repeat for several; in the environment, separate them "
            "with commas.", multiple=True, metavar="GLOB", default_doc="none"),
    Setting("warmup", STR, (), ("--warmup",), APPLICATION,
            "A request each new worker serves to itself before it counts as "
            "booted: /PATH (GET, Host: localhost) or http://HOST/PATH. An "
            "exception or a 5xx answer is a boot failure, so a reload onto "
            "code that fails on its first request keeps the old workers "
            "serving. Repeat for several; in the environment, separate them "
            "with commas.", multiple=True, metavar="PATH", default_doc="none"),
    # Static files
    Setting("static", STR, (), ("--static",), STATIC,
            "Serve the files of DIR under URL_PREFIX from the worker's loop, "
            "without calling the app (for Django: --static /static/=staticfiles "
            "after collectstatic). GET and HEAD, conditional requests, a single "
            "Range, precompressed .br/.gz siblings; no listings, no dotfiles, no "
            "path leaving DIR. A relative DIR is taken from the working "
            "directory (after chdir). Repeat for several; in the environment, "
            "separate them with commas.",
            multiple=True, metavar="URL_PREFIX=DIR", default_doc="none"),
    Setting("static-max-age", INT, 60, ("--static-max-age",), STATIC,
            "Cache-Control max-age, in seconds, of static files whose names carry "
            "no content hash. Hashed names (app.3f2a9c1b7e4d.css, as Django's "
            "ManifestStaticFilesStorage writes them) are cached for a year, "
            "immutable.", metavar="SECONDS", minimum=0),
    Setting("static-follow-symlinks", BOOL, False,
            ("--static-follow-symlinks/--no-static-follow-symlinks",), STATIC,
            "Serve files reached through symbolic links that lead outside the "
            "static directory. Off: such a file is a 404 (links inside the "
            "directory are always followed)."),
    Setting("static-fallback", BOOL, False, ("--static-fallback/--no-static-fallback",),
            STATIC,
            "Pass a request under a static prefix whose file is missing (or not "
            "served: a dotfile, a directory, an unsafe path) to the app instead of "
            "answering 404."),
    # Command (command line only)
    Setting("config", STR, None, ("-c", "--config"), COMMAND,
            "Python config file; by default ./appserver.conf.py, else "
            "./gunicorn.conf.py, if it exists.",
            metavar="FILE", cli_only=True,
            default_doc="./appserver.conf.py, else ./gunicorn.conf.py, if it exists"),
    Setting("check-config", BOOL, False, ("--check-config",), COMMAND,
            "Run every check a start runs (settings, binding each address, user and group, "
            "pid and log paths, log-config, StatsD address, loading the app), in the same "
            "order; exit with the code the start would.",
            cli_only=True),
    Setting("print-config", BOOL, False, ("--print-config",), COMMAND,
            "Print every setting, its value and where it came from, and exit.",
            cli_only=True),
    Setting("version", BOOL, False, ("--version",), COMMAND,
            "Print the version and exit.", cli_only=True, aliases=("-v",)),
)

# Variables in the APPSERVER_ namespace that are not settings: an old arbiter
# sets them for the new one on a USR2 upgrade (appserver.deploy.upgrade).
INTERNAL_ENV = ("APPSERVER_LISTEN_FDS", "APPSERVER_UPGRADE_FROM", "APPSERVER_HANDOFF_FDS")

# Variables holding command-line options, lowest precedence first: both
# above the config file and APPSERVER_* variables, below the command line.
CMD_ARGS_ENV = ("GUNICORN_CMD_ARGS", "APPSERVER_CMD_ARGS")

BY_NAME: Dict[str, Setting] = {s.name: s for s in SETTINGS}
BY_KEY: Dict[str, Setting] = {s.key: s for s in SETTINGS}
BY_ENV: Dict[str, Setting] = {s.env: s for s in SETTINGS if s.env}
CONFIG_SETTINGS = tuple(s for s in SETTINGS if not s.cli_only)


def pool_threads(cfg: Any) -> int:
    """The threads of each worker's pool that runs the app: 0 (the app runs
    on the worker's main thread) for a sync worker with one thread."""
    return cfg.threads if cfg.threads > 1 or cfg.worker_class == "gthread" else 0
