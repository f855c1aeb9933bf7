"""docs/migrating.md claims only what exists.

Every ``--flag`` it gives as appserver's (outside the first column of its
tables, which names the other server's settings, and in ``appserver``
command lines) is a real appserver flag; every file or page it links to or
names under ``examples/`` exists; every signal its appserver columns name is
one the arbiter handles.
"""
import re

from appserver.config import settings as S
from appserver.arbiter import HANDLED

from tests.deploy.files import REPO_ROOT

DOC = REPO_ROOT / "docs" / "migrating.md"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9]")


def known_flags():
    return {f for s in S.SETTINGS for decl in s.flags + s.aliases
            for f in decl.split("/")} | {"--help"}


def sections():
    """(prose lines, table rows as cell lists, command lines in code blocks)."""
    prose, rows, commands, fenced = [], [], [], False
    for line in DOC.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif fenced:
            commands.append(line)
        elif line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
        else:
            prose.append(line)
    return prose, rows, commands


def test_every_appserver_flag_named_exists():
    prose, rows, commands = sections()
    texts = prose + [" ".join(row[1:]) for row in rows]
    texts += [line for line in commands if line.startswith("appserver ")]
    named = {flag for text in texts for flag in FLAG.findall(text)}
    assert "--protocol" in named and "--uwsgi-allow-ips" in named
    unknown = named - known_flags()
    assert not unknown, "docs/migrating.md names unknown appserver flags: %s" % sorted(unknown)


def test_linked_and_named_files_exist():
    text = DOC.read_text()
    links = re.findall(r"\]\(([^)#]+)\)", text)
    assert "../examples/apache/appserver.conf" in links
    for link in links:
        assert (DOC.parent / link).exists(), link
    for path in re.findall(r"examples/[\w./-]*\w", text):
        assert (REPO_ROOT / path).exists(), path


def test_signals_given_to_appserver_are_handled():
    handled = {sig.name[3:] for sig in HANDLED}
    _, rows, _ = sections()
    tables = [row for row in rows if row[0].startswith("`") and row[0].strip("`").isupper()]
    assert tables, "no signal rows found"
    for row in tables:
        for name in re.findall(r"`([A-Z0-9]+)`", row[0]):
            if row[-1] != "—":
                assert name in handled, name

