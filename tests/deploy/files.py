"""Readers for the example files the deployment tests check.

Contract: ``unit_entries(path)`` returns a systemd unit's ``[(section, key,
value)]`` with continuation lines joined and comments dropped;
``unit_value(entries, section, key)`` the last value of a key (failing if it is
missing). ``instructions(path)`` returns a Dockerfile's ``[(INSTRUCTION,
arguments)]``; ``last(name)`` the arguments of the last such instruction,
``exec_form(name)`` those of ENTRYPOINT/CMD as a list (failing unless they are
in JSON exec form), ``dockerfile_env()`` the ENV variables. ``load_manifest()`` returns the
Kubernetes documents by kind (needs PyYAML), ``pod_and_container()`` the pod
spec and its one container; ``option(args, flag)`` the value after a flag.
"""

import json
import re
import shlex
from pathlib import Path

from tests.harness.process import REPO_ROOT

__all__ = ["REPO_ROOT", "DOCKERFILE", "SYSTEMD", "MANIFEST", "unit_entries", "unit_value",
           "instructions", "last", "exec_form", "dockerfile_env", "load_manifest",
           "pod_and_container", "option"]

DOCKERFILE = REPO_ROOT / "examples" / "docker" / "Dockerfile"
SYSTEMD = REPO_ROOT / "examples" / "systemd"
MANIFEST = REPO_ROOT / "examples" / "kubernetes" / "deployment.yaml"


def unit_entries(path):
    text = re.sub(r"\\\n", " ", Path(path).read_text())
    entries, section = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_value(entries, section, key):
    values = [v for s, k, v in entries if (s, k) == (section, key)]
    assert values, "%s= is missing from [%s]" % (key, section)
    return values[-1]


def instructions(path=DOCKERFILE):
    lines = [line for line in Path(path).read_text().splitlines()
             if not line.lstrip().startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in text.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def last(name):
    values = [args for word, args in instructions() if word == name]
    assert values, "no %s in the Dockerfile" % name
    return values[-1]


def exec_form(name):
    value = last(name)
    assert value.startswith("["), "%s must be in exec form (a JSON array)" % name
    return json.loads(value)


def dockerfile_env():
    env = {}
    for word, args in instructions():
        if word == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(args))
    return env


def load_manifest():
    import yaml
    docs = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    return {d["kind"]: d for d in docs}


def pod_and_container():
    pod = load_manifest()["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return pod, container


def option(args, flag):
    return args[args.index(flag) + 1]
