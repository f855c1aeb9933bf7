"""The README's first command, run as written (after its install step) at
the root of a copy of the checkout's ``examples/django`` (its static files
not collected, as in a fresh clone): it collects them, then serves the
project, and its ``/static/`` files come from the server's loop (the hashed
name the page links, immutable), not from Django. The command leaves the
shell where it was: the second command runs at the checkout's root."""
import os
import re
import shutil
import sys
from dataclasses import dataclass

import pytest

from tests.harness.process import REPO_ROOT
from tests.harness.server import Server
from tests.functional.test_fn_static_django import hashed_css_from_the_loop

INSTALL = "python -m pip install -e '.[examples]' && "


def readme_first_command():
    text = (REPO_ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S).group(1)
    return block.splitlines()[0]


@dataclass
class ShellServer(Server):
    """The harness's server, started by a shell command line."""

    shell: str = ""

    @property
    def command(self):
        return ["bash", "-c", self.shell]


def test_the_readme_first_command_serves_django_with_its_static_files(tmp_path):
    pytest.importorskip("django")
    command = readme_first_command()
    assert command.startswith(INSTALL), command
    assert " cd " not in command, "the shell must stay at the checkout's root"
    project = tmp_path / "examples" / "django"
    shutil.copytree(REPO_ROOT / "examples" / "django", project,
                    ignore=shutil.ignore_patterns("staticfiles", "__pycache__"))
    here = os.path.dirname(sys.executable)      # this python, and its appserver
    srv = ShellServer("-", cwd=tmp_path, pythonpath=[], shell=command[len(INSTALL):],
                      env={"PATH": here + os.pathsep + os.environ["PATH"],
                           "APPSERVER_BIND": "127.0.0.1:0"}, start_timeout=60)
    try:
        srv.start()
        hashed_css_from_the_loop(srv, project)
    finally:
        srv.cleanup()
