"""Imports run one way: no module imports from a layer above its own.

The layer order is the numbered list under "Layers, bottom to top" in
docs/architecture.md, so the map and this check cannot drift apart: every
module of the package must belong to exactly one layer there, and every
import (module level or inside a function) must name a module of its own
layer or of a layer below.
"""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "appserver"
MAP = ROOT / "docs" / "architecture.md"


def layers(text):
    """The doc's layer list: one list of names per layer, bottom first.

    A name ending in ``.py`` is a top-level module (``errors.py``); any other
    name is a whole subpackage (``http``)."""
    section = text.split("## Layers, bottom to top", 1)[1].split("\n## ", 1)[0]
    found = []
    for line in section.splitlines():
        match = re.match(r"(\d+)\. (.*)", line)
        if match:
            assert int(match.group(1)) == len(found) + 1, line
            names = re.findall(r"`([^`]+)`", match.group(2).split(":")[0])
            found.append(names)
    return found


def module_names():
    """``{dotted module name: path}`` for every module of the package."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def layer_of(module, order):
    """The index of ``module``'s layer in ``order``, or None."""
    for index, names in enumerate(order):
        for name in names:
            if name.endswith(".py"):
                top = name[:-3]
                dotted = "appserver" if top == "__init__" else "appserver." + top
                if module == dotted:
                    return index
            elif module == "appserver." + name or module.startswith("appserver." + name + "."):
                return index
    return None


def imported(module, path, known):
    """The package modules that ``module`` (at ``path``) imports, with line numbers.

    ``from appserver.config import settings`` names the module
    ``appserver.config.settings`` when it is one, else the package itself;
    relative imports are resolved against ``module``'s package."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "appserver":
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] != "appserver":
                continue
            for alias in node.names:
                sub = base + "." + alias.name
                yield (sub if sub in known else base), node.lineno


def leaks(order, known):
    """One line per import that climbs: ``module:line imports target (layer a < b)``."""
    found = []
    for module, path in sorted(known.items()):
        own = layer_of(module, order)
        for target, line in imported(module, path, known):
            other = layer_of(target, order)
            if other is not None and own is not None and other > own:
                found.append("%s:%d imports %s (layer %d %s imports layer %d %s)" % (
                    module, line, target,
                    own + 1, "/".join(order[own]), other + 1, "/".join(order[other])))
    return found


ORDER = layers(MAP.read_text())
KNOWN = module_names()


def test_the_map_lists_layers():
    assert len(ORDER) >= 5
    assert ORDER[0] and ORDER[-1]


def test_every_module_is_in_exactly_one_layer():
    unplaced = [m for m in KNOWN if layer_of(m, ORDER) is None]
    assert not unplaced, "add these to the layer list of docs/architecture.md: %s" % unplaced
    names = [name for layer in ORDER for name in layer]
    assert len(names) == len(set(names)), names


def test_every_layer_names_something_that_exists():
    for layer in ORDER:
        for name in layer:
            path = PACKAGE / name if name.endswith(".py") else PACKAGE / name / "__init__.py"
            assert path.exists(), "docs/architecture.md names %s, which is not in appserver/" % name


def test_every_module_file_is_on_the_map():
    text = MAP.read_text()
    missing = [str(p.relative_to(PACKAGE)) for p in KNOWN.values()
               if p.name != "__init__.py" and "`%s`" % p.name not in text]
    assert not missing, "docs/architecture.md does not describe: %s" % missing


def test_no_module_imports_from_a_layer_above_it():
    found = leaks(ORDER, KNOWN)
    assert not found, "imports that climb the layers:\n" + "\n".join(found)


def test_the_check_sees_a_climbing_import(tmp_path):
    """The walker finds a function-local import from a higher layer."""
    path = tmp_path / "probe.py"
    path.write_text("def f():\n    from appserver.arbiter import plan\n")
    known = dict(KNOWN, **{"appserver.http.probe": path})
    found = [line for line in leaks(ORDER, known) if line.startswith("appserver.http.probe:")]
    assert len(found) == 1 and "appserver.arbiter.plan" in found[0]
