"""Kubernetes service-link variables: a pod gets ``<SERVICE>_SERVICE_HOST``,
``<SERVICE>_PORT=tcp://...`` and more for every Service in its namespace; for
a Service named ``appserver`` or ``appserver-...`` they start with
``APPSERVER_`` and are no settings. The real server starts and serves with
them in its environment; a mistyped setting next to them still stops it
(exit 2); the manifest turns the links off anyway."""

import pytest

from appserver.config import service_links
from appserver.errors import EXIT_CONFIG

from .files import pod_and_container
from tests.harness.clients import http_get
from tests.harness.process import APPSERVER, Proc, app_env, free_port

pytestmark = pytest.mark.timeout(60)


def links(service, port=80, port_name="http", ip="10.96.0.11"):
    """The variables kubelet makes for one Service (pkg/kubelet/envvars)."""
    prefix = service.upper().replace("-", "_")
    url = "tcp://%s:%d" % ("[%s]" % ip if ":" in ip else ip, port)   # JoinHostPort
    proto = "%s_PORT_%d_TCP" % (prefix, port)
    return {
        prefix + "_SERVICE_HOST": ip,
        prefix + "_SERVICE_PORT": str(port),
        prefix + "_SERVICE_PORT_" + port_name.upper(): str(port),
        prefix + "_PORT": url,
        proto: url,
        proto + "_PROTO": "tcp",
        proto + "_PORT": str(port),
        proto + "_ADDR": ip,
    }


SERVICES = {**links("appserver"), **links("appserver-hello"),
            **links("appserver-admin", 9000, "admin", "fd00::1b")}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_kubelet_variable_is_recognised(name):
    assert service_links.is_service_link(name, SERVICES[name])


@pytest.mark.parametrize("name, value", [
    ("APPSERVER_WOKRERS", "4"),                 # a typo of a setting
    ("APPSERVER_PORT", "8000"),                 # no tcp:// URL: not kubelet's
    ("APPSERVER_SERVICE_HOST", "db.internal"),  # kubelet puts the cluster IP
    ("APPSERVER_SERVICE_PORT", "http"),
    ("APPSERVER_PORT_80_TCP_PROTO", "http"),
    ("APPSERVER_PORT_80_TCP", "10.0.0.1:80"),
    ("APPSERVER_STATSD_HOST", "10.0.0.1"),
])
def test_other_variables_are_not_service_links(name, value):
    assert not service_links.is_service_link(name, value)


@pytest.fixture
def procs():
    started = []
    yield started
    for proc in started:
        proc.stop()


def test_server_starts_and_serves_with_service_links_in_its_environment(procs):
    port = free_port()
    proc = Proc(APPSERVER + ["deployapp", "--workers", "1", "--bind", "127.0.0.1:%d" % port],
                env=app_env(**SERVICES))
    procs.append(proc)
    proc.start()
    proc.wait_for_log(r"Ready: 1 workers? booted")
    assert http_get(("127.0.0.1", port))[0] == 200
    assert "APPSERVER_" not in proc.log()


def test_a_mistyped_setting_beside_service_links_still_stops_the_start(procs):
    env = app_env(APPSERVER_WOKRERS="4", **SERVICES)
    proc = Proc(APPSERVER + ["deployapp", "--bind", "127.0.0.1:0"], env=env)
    procs.append(proc)
    proc.start()
    assert proc.wait_exit() == EXIT_CONFIG
    assert ("Error: unknown setting 'APPSERVER_WOKRERS' in the environment; did you "
            "mean 'APPSERVER_WORKERS'?") in proc.log()
    assert "Listening" not in proc.log()


def test_the_manifest_turns_service_links_off():
    pytest.importorskip("yaml", reason="PyYAML is not installed")
    pod, _ = pod_and_container()
    assert pod["enableServiceLinks"] is False
