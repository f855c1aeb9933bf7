"""Access log and request ids over a real server (access log on stdout).

One line per request: served ones in the combined or JSON format, requests
the server refused itself (400, 431, 408), requests that timed out (504,
written by the worker as it unwinds, or by the arbiter when the worker had
to be killed). Request ids: kept from a trusted peer, new otherwise, given
to the app in appserver.request_id (the client's X-Request-ID header stays as
sent) and echoed with --request-id-header.
"""
import json
import re

from tests.harness.clients import raw_request
from tests.harness.process import wait_until


def access_lines(srv, count, timeout=10.0):
    return wait_until(lambda: (lambda lines: lines if len(lines) >= count else None)(
        [line for line in srv.stdout().splitlines() if line.strip()]),
        timeout, "%d access lines in\n%s" % (count, srv.log()))


def test_combined_line_for_a_served_request(obs_server):
    srv = obs_server("--access-logfile", "-")
    resp = srv.get("/?q=1", headers={"User-Agent": 'evil" 200 "x', "Referer": "http://r/"})
    assert resp.status == 200
    [line] = access_lines(srv, 1)
    assert re.fullmatch(r'127\.0\.0\.1 - - \[[^\]]+\] "GET /\?q=1 HTTP/1\.1" 200 6 '
                        r'"http://r/" "evil\\" 200 \\"x"', line), line


def test_custom_format_with_header_atoms(obs_server):
    srv = obs_server("--access-logfile", "-", "--access-log-format",
                     "%(m)s %(U)s %(s)s %({x-custom}o)s %({x-request-id}i)s %(D)s")
    srv.get("/header", headers={"X-Request-ID": "abc-123"})
    [line] = access_lines(srv, 1)
    method, path, status, custom, rid, micros = line.split(" ")
    assert (method, path, status, custom, rid) == ("GET", "/header", "200",
                                                   "custom-value", "abc-123")
    assert int(micros) >= 0


def test_json_lines_with_request_id_echoed(obs_server):
    srv = obs_server("--access-logfile", "-", "--access-log-format", "json",
                     "--request-id-header", "X-Request-ID")
    resp = srv.get("/rid")
    rid = resp.header("X-Request-ID")
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    assert resp.body.decode().split() == [rid, "-"]     # no header the client did not send
    srv.request("POST", "/status/404", body=b"x" * 10)
    first, second = [json.loads(line) for line in access_lines(srv, 2)]
    assert first["request_id"] == rid and first["status"] == 200
    assert first["bytes"] == len(resp.body) and isinstance(first["duration"], float)
    assert (second["method"], second["status"], second["bytes"]) == ("POST", 404, 6)


def test_trusted_peer_keeps_its_request_id(obs_server):
    srv = obs_server("--request-id-header", "X-Request-ID")
    resp = srv.get("/rid", headers={"X-Request-ID": "from-proxy-7"})
    assert resp.header("X-Request-ID") == "from-proxy-7"
    assert resp.body.decode().split() == ["from-proxy-7", "from-proxy-7"]


def test_untrusted_peer_gets_a_new_request_id(obs_server):
    srv = obs_server("--request-id-header", "X-Request-ID",
                     "--forwarded-allow-ips", "10.0.0.0/8")
    resp = srv.get("/rid", headers={"X-Request-ID": "forged"})
    rid = resp.header("X-Request-ID")
    assert rid != "forged" and re.fullmatch(r"[0-9a-f]{32}", rid)
    assert resp.body.decode().split() == [rid, "forged"]    # the header stays as sent


def test_requests_the_server_refuses_are_logged(obs_server):
    srv = obs_server("--access-logfile", "-", "--limit-request-field-size", "100",
                     "--header-timeout", "0.5")
    bad = raw_request(srv, b"GET /bad HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
    assert bad.startswith(b"HTTP/1.1 400 ")
    big = raw_request(srv, b"GET /big HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200
                      + b"\r\n\r\n")
    assert big.startswith(b"HTTP/1.1 431 ")
    slow = raw_request(srv, b"GET /slow HTTP/1.1\r\nHost: x\r\n")
    assert slow.startswith(b"HTTP/1.1 408 ")
    lines = access_lines(srv, 3)
    assert [line.split('"')[1] for line in lines] == [
        "GET /bad HTTP/1.1", "GET /big HTTP/1.1", "GET /slow HTTP/1.1"]
    assert [line.split('"')[2].split()[0] for line in lines] == ["400", "431", "408"]


def test_timed_out_request_is_logged_504(obs_server):
    srv = obs_server("--access-logfile", "-", "--timeout", "1")
    resp = srv.get("/sleep?s=30", timeout=20)
    assert resp.status == 504
    [line] = access_lines(srv, 1)
    assert '"GET /sleep?s=30 HTTP/1.1" 504 ' in line


def test_request_of_a_killed_worker_is_logged_504_by_the_arbiter(obs_server):
    srv = obs_server("--access-logfile", "-", "--timeout", "1",
                     "--access-log-format", "%(r)s %(s)s %(p)s")
    conn = srv.connection(timeout=20)
    conn.request("GET", "/block?s=60")
    srv.wait_for_log(r"did not stop after its timeout; sending SIGKILL", timeout=20)
    [line] = access_lines(srv, 1)
    request, status = line.rsplit(" ", 2)[:2]
    assert (request, status) == ("GET /block?s=60 HTTP/1.1", "504")
    assert line.endswith("<%d>" % srv.pid)      # written by the arbiter
    conn.close()
