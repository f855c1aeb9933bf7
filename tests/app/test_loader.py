"""loader.load_app: every spec form and every error; loader.prepare."""

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from appserver.app import loader
from appserver.errors import EXIT_APP_LOAD, EXIT_CONFIG, AppLoadError, ConfigError

APPS_DIR = Path(__file__).resolve().parents[1] / "loader_apps"


def _forget_fixture_modules():
    for name in [n for n in sys.modules if n.startswith("la_")]:
        del sys.modules[name]


@pytest.fixture(autouse=True)
def loader_apps(monkeypatch):
    """tests/loader_apps first on sys.path; fixture modules imported afresh."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.syspath_prepend(str(APPS_DIR))
    _forget_fixture_modules()
    yield
    _forget_fixture_modules()


def load_error(spec):
    with pytest.raises(AppLoadError) as info:
        loader.load_app(spec)
    assert info.value.exit_code == EXIT_APP_LOAD == 4
    return str(info.value)


# The forms that load.

def test_module_colon_name():
    app = loader.load_app("la_simple:app")
    assert app is sys.modules["la_simple"].app


def test_dotted_attribute():
    assert loader.load_app("la_simple:routes.main") is sys.modules["la_simple"].app


def test_module_alone_prefers_application_over_app():
    assert loader.load_app("la_application") is sys.modules["la_application"].application


def test_module_alone_falls_back_to_app():
    assert loader.load_app("la_app_only") is sys.modules["la_app_only"].app


def test_package_submodule():
    app = loader.load_app("la_pkg.wsgi")
    assert app is sys.modules["la_pkg.wsgi"].application


def test_factory_without_arguments():
    app = loader.load_app("la_simple:make_app()")
    assert app.greeting == "hello!"


def test_factory_with_literal_arguments():
    app = loader.load_app("la_simple:make_app('hi', punctuation='?')")
    assert app.greeting == "hi?"


def test_spec_is_parsed_into_parts():
    assert loader.parse_spec("pkg.mod:a.b(1, x=[2])") == (
        "pkg.mod", ("a", "b"), ((1,), {"x": [2]}))
    assert loader.parse_spec("pkg.mod") == ("pkg.mod", (), None)


# Bad specs.

@pytest.mark.parametrize("spec, why", [
    ("la_simple:", "the name after ':' is missing"),
    (":app", "the module name is missing"),
    ("la..simple:app", "'la..simple' is not a module name"),
    ("la_simple:app(", "is not a name or a call"),
    ("la_simple:1app", "is not a name or a call"),
    ("la_simple:make_app()()", "expected a name or a dotted name"),
])
def test_bad_spec_syntax(spec, why):
    message = load_error(spec)
    assert why in message
    assert "pkg.mod:app" in message          # shows the expected forms


@pytest.mark.parametrize("spec", [
    "la_simple:make_app(greeting)",
    "la_simple:make_app(__import__('os'))",
    "la_simple:make_app(**{'greeting': 'x'})",
])
def test_factory_arguments_must_be_literals(spec):
    assert "must be literals" in load_error(spec)
    assert "la_simple" not in sys.modules     # rejected before importing


# Module missing, or its import failing.

def test_missing_module_lists_sys_path():
    message = load_error("la_no_such_module:app")
    assert "module 'la_no_such_module' not found" in message
    assert "Searched sys.path:" in message
    assert "  " + str(APPS_DIR) in message.splitlines()
    assert "--chdir" in message


def test_missing_parent_package_names_it():
    message = load_error("la_no_such_pkg.wsgi")
    assert "module 'la_no_such_pkg' not found (needed to import 'la_no_such_pkg.wsgi')" in message


def test_missing_submodule_searches_the_package():
    message = load_error("la_pkg.nope")
    assert "module 'la_pkg.nope' not found" in message
    assert "Searched package 'la_pkg':" in message
    assert "  " + str(APPS_DIR / "la_pkg") in message.splitlines()


def test_module_whose_own_import_misses_a_dependency_is_an_import_error():
    message = load_error("la_missing_dep:app")
    assert "module 'la_missing_dep' was found, but importing it raised" in message
    assert "Traceback (most recent call last):" in message
    assert "la_missing_dep.py\", line 3" in message
    assert ("ModuleNotFoundError: No module named "
            "'la_dependency_that_is_not_installed'") in message
    assert "Searched sys.path" not in message


def test_import_raising_shows_trimmed_traceback():
    message = load_error("la_raises")
    assert "module 'la_raises' was found, but importing it raised" in message
    assert 'la_raises.py", line 10, in <module>' in message
    assert 'la_raises.py", line 7, in _fail' in message
    assert "RuntimeError: boom while importing la_raises" in message
    assert "importlib" not in message
    assert "loader.py" not in message


def test_syntax_error_in_module_is_an_import_error():
    message = load_error("la_syntax_error:app")
    assert "module 'la_syntax_error' was found, but importing it raised" in message
    assert 'la_syntax_error.py", line 3' in message
    assert "SyntaxError" in message


# Attribute missing, factory failing, not callable.

def test_missing_attribute_lists_public_callables_and_suggests():
    message = load_error("la_simple:ap")
    assert "module 'la_simple' has no attribute 'ap' (did you mean 'app'?)." in message
    assert "Public callables in " in message
    assert "la_simple.py: app, broken_factory, make_app, none_factory." in message


def test_missing_nested_attribute_names_the_parent():
    message = load_error("la_simple:routes.nope")
    assert "'la_simple:routes' has no attribute 'nope' (it is a SimpleNamespace" in message


def test_module_with_neither_application_nor_app():
    message = load_error("la_neither")
    assert "module 'la_neither' has neither 'application' nor 'app'" in message
    assert "'la_neither:NAME'" in message
    assert ": create_wsgi, helper." in message      # not the imported 'join'


def test_factory_raising_shows_its_traceback():
    message = load_error("la_simple:broken_factory()")
    assert "application factory 'la_simple:broken_factory()' raised an exception" in message
    assert 'la_simple.py", line 20, in broken_factory' in message
    assert "RuntimeError: the factory exploded" in message
    assert "loader.py" not in message


def test_factory_called_with_wrong_arguments():
    message = load_error("la_simple:make_app(1, 2, 3)")
    assert "raised an exception" in message
    assert "TypeError" in message


def test_factory_returning_non_callable():
    message = load_error("la_simple:none_factory()")
    assert ("'la_simple:none_factory()' returned a NoneType (None), "
            "not a WSGI application") in message


@pytest.mark.parametrize("spec", ["la_simple:NOT_CALLABLE", "la_simple:NOT_CALLABLE()"])
def test_not_callable_says_its_type(spec):
    message = load_error(spec)
    assert "'la_simple:NOT_CALLABLE' is not callable: it is a str ('just a string')" in message


# prepare()

@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """Restore cwd, sys.path and the variables prepare() may set."""
    monkeypatch.chdir(tmp_path)
    for key in ("LA_ONE", "LA_TWO"):
        monkeypatch.delenv(key, raising=False)
    return tmp_path


def fake_cfg(**values):
    fields = dict(chdir=None, pythonpath=None, env=())
    fields.update(values)
    return SimpleNamespace(source=lambda name: "command line", **fields)


def test_prepare_puts_cwd_first_on_sys_path(sandbox):
    sys.path.append(str(sandbox))
    loader.prepare(fake_cfg())
    assert sys.path[0] == str(sandbox)
    assert sys.path.count(str(sandbox)) == 1


def test_prepare_changes_directory(sandbox):
    (sandbox / "project").mkdir()
    loader.prepare(fake_cfg(chdir="project"))
    assert os.getcwd() == str(sandbox / "project")
    assert sys.path[0] == str(sandbox / "project")


def test_prepare_missing_chdir_is_a_config_error(sandbox):
    with pytest.raises(ConfigError) as info:
        loader.prepare(fake_cfg(chdir="nowhere"))
    assert info.value.exit_code == EXIT_CONFIG
    assert "chdir: cannot change to directory 'nowhere'" in str(info.value)
    assert "(from command line)" in str(info.value)


def test_prepare_prepends_pythonpath_in_order(sandbox):
    loader.prepare(fake_cfg(pythonpath="lib, vendor/src"))
    assert sys.path[:3] == [str(sandbox / "lib"), str(sandbox / "vendor" / "src"),
                            str(sandbox)]


def test_prepare_sets_env_pairs(sandbox):
    loader.prepare(fake_cfg(env=("LA_ONE=1", "LA_TWO=a=b")))
    assert os.environ["LA_ONE"] == "1"
    assert os.environ["LA_TWO"] == "a=b"


def test_prepared_pythonpath_makes_an_app_loadable(sandbox):
    (sandbox / "src").mkdir()
    (sandbox / "src" / "la_from_src.py").write_text("app = print\n")
    loader.prepare(fake_cfg(pythonpath="src"))
    assert loader.load_app("la_from_src:app") is print
