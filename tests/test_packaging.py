"""The distribution is named appserver-wsgi ("appserver" on the package index
is an unrelated project with its own "appserver" command); the command and
the import package stay appserver, and every install line in the docs names
the distribution, never the other project."""

import re
from pathlib import Path

try:
    import tomllib
except ImportError:                     # Python < 3.11
    tomllib = None

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")),
        REPO / "examples" / "docker" / "Dockerfile"]


def project():
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11+")
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_distribution_name_command_and_package():
    meta = project()
    assert meta["name"] == "appserver-wsgi"
    assert meta["scripts"] == {"appserver": "appserver.cli:main"}
    assert (REPO / "appserver" / "__init__.py").exists()


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_install_lines_name_the_distribution(path):
    for line in path.read_text().splitlines():
        for match in re.finditer(r"pip install ((?:-\S+\s+)*)(\S+)", line):
            target = match.group(2).strip("`'\"")
            assert not re.fullmatch(r"appserver(\[.*\])?([<>=!~].*)?", target), (
                "%s: %r installs the unrelated 'appserver' project" % (path.name, line))


def test_ci_runs_the_oldest_and_the_newest_python_that_requires_python_claims():
    spec = project()["requires-python"]
    low = re.search(r">=\s*3\.(\d+)", spec).group(1)
    below = re.search(r"<\s*3\.(\d+)", spec).group(1)
    ci = (REPO / ".ci" / "run").read_text()
    versions = re.search(r"^PYTHONS=\((.*)\)$", ci, re.M).group(1).split()
    assert versions == ["3.%s" % low, "3.%d" % (int(below) - 1)]
    classifiers = [c.rpartition(" :: ")[2] for c in project()["classifiers"]
                   if c.startswith("Programming Language :: Python :: 3.")]
    assert classifiers == ["3.%d" % minor for minor in range(int(low), int(below))]
