"""Test app for the observability tests; the path picks the behaviour.

``/`` answers ``hello\\n``; ``/sleep?s=N`` sleeps N seconds then answers;
``/block?s=N`` blocks the timeout signal (SIGUSR2) and sleeps, so only
SIGKILL stops it; ``/status/NNN`` answers with that status; ``/rid`` answers
``environ['appserver.request_id']`` and ``HTTP_X_REQUEST_ID`` (``-`` when the
client sent none) on two lines;
``/header`` sets ``X-Custom: custom-value``; any request body is read whole.
"""
import signal
import time
from urllib.parse import parse_qs


def _seconds(environ):
    return float(parse_qs(environ.get("QUERY_STRING", "")).get("s", ["1"])[0])


def application(environ, start_response):
    environ["wsgi.input"].read()
    path = environ["PATH_INFO"]
    status, headers, body = "200 OK", [("Content-Type", "text/plain")], b"hello\n"
    if path == "/sleep":
        time.sleep(_seconds(environ))
    elif path == "/block":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
        time.sleep(_seconds(environ))
    elif path.startswith("/status/"):
        status = path[len("/status/"):] + " Whatever"
    elif path == "/rid":
        body = ("%s\n%s\n" % (environ["appserver.request_id"],
                              environ.get("HTTP_X_REQUEST_ID", "-"))).encode()
    elif path == "/header":
        headers.append(("X-Custom", "custom-value"))
    headers.append(("Content-Length", str(len(body))))
    start_response(status, headers)
    return [body]
