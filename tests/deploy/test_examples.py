"""The Kubernetes manifest parses and is consistent (probes on the admin port,
grace period, non-root user matching the Dockerfile, Service wiring); every
appserver option used by an example (systemd ExecStart, Docker CMD, Kubernetes
args) is a real setting; docs/deploy.md names only example files that exist."""

import re

import pytest

from appserver.config import settings as S

from .files import (REPO_ROOT, SYSTEMD, dockerfile_env, exec_form, last, load_manifest, option,
                    pod_and_container, unit_entries, unit_value)


def known_flags():
    return {f for s in S.SETTINGS for decl in s.flags for f in decl.split("/")}


def flags_in(args):
    return [a for a in args if a.startswith("-") and a != "-"]


def manifest():
    pytest.importorskip("yaml", reason="PyYAML is not installed")
    return load_manifest()


def web_container():
    pytest.importorskip("yaml", reason="PyYAML is not installed")
    return pod_and_container()


def test_manifest_has_a_deployment_and_a_service():
    assert set(manifest()) == {"Deployment", "Service"}


def test_probes_target_the_admin_listener():
    _, container = web_container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    admin = option(container["args"], "--admin-bind")
    assert admin == "0.0.0.0:%d" % ports["admin"]
    probes = {kind: container[kind]["httpGet"] for kind in
              ("startupProbe", "readinessProbe", "livenessProbe")}
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert {p["port"] for p in probes.values()} == {"admin"}


def test_grace_period_outlasts_shutdown_delay_plus_graceful_timeout():
    pod, container = web_container()
    args = container["args"]
    needed = int(option(args, "--graceful-timeout")) + int(option(args, "--shutdown-delay"))
    assert pod["terminationGracePeriodSeconds"] > needed


def test_runs_as_the_dockerfile_user_and_serves_on_its_port():
    pod, container = web_container()
    context = pod["securityContext"]
    assert context["runAsNonRoot"] is True
    assert "%d:%d" % (context["runAsUser"], context["runAsGroup"]) == last("USER")
    env = {e["name"]: e["value"] for e in container["env"]}
    http = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
    assert env["PORT"] == str(http) == dockerfile_env()["PORT"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_service_selects_the_pods_and_targets_the_http_port():
    docs = manifest()
    labels = docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    service = docs["Service"]["spec"]
    assert service["selector"].items() <= labels.items()
    assert [p["targetPort"] for p in service["ports"]] == ["http"]


def example_commands():
    service = unit_entries(SYSTEMD / "appserver.service")
    yield "systemd", unit_value(service, "Service", "ExecStart").split()[1:]
    yield "docker", exec_form("CMD")
    try:
        yield "kubernetes", pod_and_container()[1]["args"]
    except ImportError:         # no PyYAML: the manifest tests skip
        pass


def test_examples_use_only_real_options():
    known = known_flags()
    for where, args in example_commands():
        unknown = set(flags_in(args)) - known
        assert not unknown, "%s example uses unknown options %s" % (where, sorted(unknown))


def test_deploy_doc_names_only_example_files_that_exist():
    text = (REPO_ROOT / "docs" / "deploy.md").read_text()
    named = set(re.findall(r"examples/[\w./-]*\w", text))
    assert {"examples/systemd/appserver.service", "examples/docker/Dockerfile",
            "examples/kubernetes/deployment.yaml"} <= named
    missing = [p for p in named if not (REPO_ROOT / p).exists()]
    assert missing == [], missing
