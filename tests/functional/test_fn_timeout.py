"""Functional test of the worker timeout (DESIGN.md): a request that runs
past ``--timeout`` stops the heartbeat; the arbiter dumps the worker's Python
stack to the error log, the worker is replaced, and the client never gets a
success for the killed request."""
import http.client

import pytest


@pytest.mark.timeout(40)
def test_request_past_timeout_dumps_stack_and_replaces_worker(server_factory):
    server = server_factory("slow", "--timeout", "1", workers=1)
    before = server.wait_for_workers(1)
    try:
        resp = server.get("/?s=8", timeout=20)
        status = resp.status
    except (http.client.RemoteDisconnected, ConnectionResetError):
        status = None  # the connection died with the worker: also honest
    assert status in (None, 500, 503, 504), status
    server.wait_for_log(r'File "[^"]*slow\.py", line \d+', timeout=15)
    after = server.wait_for_workers(1, exclude=before, timeout=15)
    assert server.records("slow.log")[-1].startswith("start ")  # never finished
    resp = server.get("/?s=0")
    assert resp.status == 200 and resp.json()["pid"] in after
