"""What server hooks receive: Gunicorn-compatible views of appserver's objects.

A Gunicorn hooks file reads ``server.log``, ``server.cfg.workers``,
``worker.pid``, ``worker.age``, ``req.headers``, ``resp.status_code``...
These views give it those names over appserver's own objects, without
adding Gunicorn's attributes to the arbiter, the worker or the request:

- ``ServerView(arbiter)``: ``log``, ``cfg``, ``pid``, ``app``, ``num_workers``
  (setting it asks for that many workers, as TTIN/TTOU do),
  ``WORKERS`` (pid -> ``WorkerView``), ``LISTENERS`` (their ``str()`` is
  the URL), ``address``,
  ``timeout``, ``proc_name``, ``master_name``, ``worker_class``, ``kill_worker``;
- ``WorkerView(worker, server)``, over the worker process object (in the
  worker) or the arbiter's record of a worker (``pre_fork``, ``child_exit``):
  ``log``, ``cfg``, ``pid``, ``ppid``, ``age`` (the spawn count, as Gunicorn
  numbers workers), ``nr`` (requests served), ``alive``, ``booted``,
  ``aborted``, ``app``, ``wsgi``, ``timeout``, ``max_requests``, ``sockets``,
  ``tmp`` and ``notify()`` (no-ops: the heartbeat is automatic);
- ``RequestView(request, environ)``: ``method``, ``uri``, ``path``, ``query``,
  ``fragment``, ``version`` (a tuple), ``headers`` as (NAME, value) pairs with
  upper-case names, ``scheme``, ``remote_addr``/``peer_addr``;
- ``ResponseView(response)``: ``status`` (str), ``status_code``, ``headers``
  as (name, value) pairs, ``sent`` (body bytes), ``response_length``,
  ``chunked``, ``version``;
- ``CfgView(cfg)``: every setting under Gunicorn's name (``keepalive``,
  ``accesslog``, ``raw_env``, ``worker_class_str``...) and appserver's.

Anything else is looked up on the object underneath, so appserver's own
attributes stay reachable, and an attribute a hook sets on ``server`` or
``worker`` is kept there for the next hook. ``ages`` numbers spawned workers: the arbiter
calls ``spawned(index)`` at each fork.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from appserver.config import settings as S
from appserver.config import gunicorn as G

_log = logging.getLogger("appserver")
ages: Dict[int, int] = {}   # worker slot index -> its spawn number
_spawned = [0]


def spawned(index: int) -> None:
    """Count one more worker spawned into slot ``index`` (Gunicorn's ``age``)."""
    _spawned[0] += 1
    ages[index] = _spawned[0]


class LogView(logging.LoggerAdapter):
    """Gunicorn's ``log`` object: the ``appserver`` logger, plus
    ``reopen_files()`` and the Gunicorn-only methods as harmless calls.
    ``reopen`` is ``observe.logs.reopen``, which ``logs.setup`` gives it (the
    settings sit below the logs, so this module does not import them)."""

    def __init__(self) -> None:
        super().__init__(_log, {})
        self.reopen: Optional[Callable[[], None]] = None

    def warn(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.warning(msg, *args, **kwargs)

    def reopen_files(self) -> None:
        if self.reopen is not None:
            self.reopen()

    def close_on_exec(self) -> None:
        pass

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        pass


LOG = LogView()


class CfgView:
    """Settings by Gunicorn's names (and appserver's), read-only."""

    def __init__(self, cfg: Any) -> None:
        object.__setattr__(self, "_cfg", cfg)

    def __getattr__(self, name: str) -> Any:
        cfg = self._cfg
        gsetting = G.BY_NAME.get(name)
        key = getattr(gsetting.rule, "key", None) if gsetting else None
        if key == "app":
            return cfg.app
        if key is not None or name in S.BY_KEY:
            value = getattr(cfg, key or name, None)
            return list(value) if isinstance(value, tuple) else value
        if name == "worker_class_str":
            return "gthread" if S.pool_threads(cfg) else "sync"
        if name == "is_ssl":
            return bool(cfg.certfile)
        if name == "env":
            return dict(item.split("=", 1) for item in cfg.env)
        if name == "address":
            from appserver.config.convert import parse_bind
            return [parse_bind(b) for b in cfg.bind]
        if gsetting is not None:
            return None                 # accepted here with no effect
        return getattr(cfg, name)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("the configuration is read-only in hooks")


class AppView:
    """Gunicorn's ``app`` (the Application): its cfg and the WSGI callable."""

    def __init__(self, cfg: Any, wsgi: Any) -> None:
        self.cfg = CfgView(cfg)
        self.callable = wsgi

    def wsgi(self) -> Any:
        return self.callable


class _Tmp:
    """Gunicorn's heartbeat file: here the heartbeat is in shared memory."""

    def notify(self) -> None:
        pass


class ListenerView:
    """A listening socket; ``str()`` is its URL, as Gunicorn's listeners print."""

    def __init__(self, listener: Any) -> None:
        self._listener = listener

    def __str__(self) -> str:
        return str(self._listener.url())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._listener, name)


class ServerView:
    """The arbiter as Gunicorn's ``server`` (see the module comment)."""

    master_name = "Master"
    worker_class = None

    def __init__(self, arbiter: Any) -> None:
        object.__setattr__(self, "_arbiter", arbiter)

    @property
    def log(self) -> LogView:
        return LOG

    @property
    def cfg(self) -> CfgView:
        return CfgView(self._arbiter.cfg)

    @property
    def pid(self) -> int:
        return getattr(self._arbiter, "pid", os.getpid())

    @property
    def app(self) -> AppView:
        return AppView(self._arbiter.cfg, getattr(self._arbiter, "app", None))

    @property
    def num_workers(self) -> int:
        desired = getattr(self._arbiter, "desired", 0)
        workers = self._arbiter.cfg.workers
        return desired or (workers if isinstance(workers, int) else 0)

    @property
    def WORKERS(self) -> Dict[int, WorkerView]:
        workers = getattr(self._arbiter, "workers", {}) or {}
        return {pid: WorkerView(w, self) for pid, w in workers.items()}

    @property
    def LISTENERS(self) -> List[ListenerView]:
        listeners = getattr(self._arbiter, "listeners", ()) or ()
        return [ListenerView(listener) for listener in listeners]

    @property
    def address(self) -> Any:
        return self.cfg.address

    @property
    def timeout(self) -> Any:
        return self._arbiter.cfg.timeout

    @property
    def proc_name(self) -> str:
        return self._arbiter.cfg.name or "appserver"

    def kill_worker(self, pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._arbiter, name)

    def __setattr__(self, name: str, value: Any) -> None:
        """A hook's own attribute (``server.started_at = ...``) stays for the
        next hook: it is kept on the arbiter. ``num_workers`` is Gunicorn's
        setter: that many workers are wanted, as after TTIN/TTOU."""
        if name == "num_workers":
            self._arbiter.want_workers(value)
            return
        setattr(self._arbiter, name, value)


class WorkerView:
    """A worker as Gunicorn's ``worker`` (see the module comment)."""

    tmp = _Tmp()

    def __init__(self, worker: Any, server: Optional[ServerView] = None,
                 running: int = 0) -> None:
        object.__setattr__(self, "_worker", worker)
        object.__setattr__(self, "_server", server)
        object.__setattr__(self, "_running", running)   # counted in nr already

    def _in_process(self) -> bool:
        return hasattr(self._worker, "cfg")

    @property
    def log(self) -> LogView:
        return LOG

    @property
    def cfg(self) -> Optional[CfgView]:
        worker = self._worker
        if self._in_process():
            return CfgView(worker.cfg)
        return self._server.cfg if self._server is not None else None

    @property
    def pid(self) -> Union[int, str]:
        pid = self._worker.pid
        return "[booting]" if pid is None else pid

    @property
    def ppid(self) -> int:
        return getattr(self._worker, "ppid", None) or os.getpid()

    @property
    def index(self) -> int:
        worker = self._worker
        if hasattr(worker, "index"):
            return worker.index
        return getattr(worker, "number", 1) - 1

    @property
    def age(self) -> int:
        return ages.get(self.index, 0)

    @property
    def nr(self) -> int:
        return getattr(self._worker, "requests", 0) + self._running

    @property
    def alive(self) -> bool:
        return getattr(self._worker, "alive", True)

    @property
    def booted(self) -> bool:
        return getattr(self._worker, "app", None) is not None

    @property
    def aborted(self) -> bool:
        return not self.alive

    @property
    def wsgi(self) -> Any:
        return getattr(self._worker, "app", None)

    @property
    def app(self) -> Optional[AppView]:
        cfg = getattr(self._worker, "cfg", None)
        return AppView(cfg, self.wsgi) if cfg is not None else None

    @property
    def timeout(self) -> Any:
        cfg = self.cfg
        return cfg.timeout if cfg is not None else None

    @property
    def max_requests(self) -> Optional[int]:
        return getattr(self._worker, "max_requests", None)

    @property
    def sockets(self) -> List[Any]:
        listeners = getattr(self._worker, "listeners", {})
        return list(listeners.values()) if isinstance(listeners, dict) else listeners

    def notify(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._worker, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._worker, name, value)


def _version(text: str) -> Tuple[int, int]:
    try:
        major, minor = text.rpartition("/")[2].split(".")
        return int(major), int(minor)
    except ValueError:
        return (1, 0)


class RequestView:
    """A request head as Gunicorn's ``req`` (see the module comment)."""

    def __init__(self, request: Any, environ: Dict[str, Any]) -> None:
        self._request = request
        self._environ = environ
        self.method = request.method
        self.uri = request.target
        self.path = request.path
        self.query = request.query or ""
        self.fragment = ""
        self.version = _version(request.version)
        self.headers = [(name.upper(), value) for name, value in request.headers]
        self.trailers: List[Tuple[str, str]] = []
        self.scheme = environ.get("wsgi.url_scheme", "http")
        port = environ.get("REMOTE_PORT")
        self.remote_addr = self.peer_addr = (
            (environ.get("REMOTE_ADDR", ""), int(port)) if port and port.isdigit()
            else environ.get("REMOTE_ADDR", ""))

    def should_close(self) -> bool:
        return not self._request.keep_alive

    def __getattr__(self, name: str) -> Any:
        return getattr(self._request, name)


class ResponseView:
    """A response as Gunicorn's ``resp`` (see the module comment)."""

    def __init__(self, response: Any, request: Optional[RequestView] = None) -> None:
        self._response = response
        self.req = request
        status = response.status
        if status is None:              # the server answered (504), not the app
            from http import HTTPStatus
            status = "%d %s" % (response.code, HTTPStatus(response.code).phrase)
        self.status = (status.decode("latin-1").strip() if isinstance(status, bytes)
                       else status)
        self.status_code = response.code
        self.headers = [tuple(part.strip() for part in line.split(":", 1))
                        for line in response.header_lines()]
        self.sent = response.body_sent
        self.response_length = response.length
        self.chunked = response.chunked
        self.version = _version(response.version) if isinstance(
            response.version, str) else response.version

    def __getattr__(self, name: str) -> Any:
        return getattr(self._response, name)


def views(names: Sequence[str], args: Sequence[Any]) -> List[Any]:
    """The hook's arguments with ``server`` and ``worker`` as views."""
    server: Optional[ServerView] = None
    out: List[Any] = []
    for name, value in zip(names, args):
        if name == "server":
            value = server = ServerView(value)
        elif name == "worker" and not isinstance(value, WorkerView):
            value = WorkerView(value, server)
        elif name == "config":
            value = CfgView(value)
        out.append(value)
    return out
