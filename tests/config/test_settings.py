"""The settings table is consistent, and docs/settings.md is generated from it."""

from pathlib import Path

import pytest

from appserver.config import convert, docs
from appserver.config import settings as S
from appserver.config import schema
from appserver.errors import ConfigError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_docs_settings_md_is_up_to_date():
    assert DOCS.exists(), "docs/settings.md is missing; run: " + docs.REGENERATE
    assert DOCS.read_text() == docs.render(), (
        "docs/settings.md is out of date; run: " + docs.REGENERATE)


def test_docs_describe_every_setting():
    text = docs.render()
    for setting in S.SETTINGS:
        assert "### `%s`" % setting.name in text
        assert setting.help in text
        if setting.env:
            assert "| Environment | `%s` |" % setting.env in text
            assert "| Config file | `%s` |" % setting.key in text
    assert text.index("## Server socket") < text.index("### `bind`") < text.index(
        "## Worker processes") < text.index("### `workers`")


def test_docs_rows_for_one_setting():
    text = docs.render()
    section = text[text.index("### `graceful-timeout`"):text.index("### `keep-alive`")]
    assert "| Command line | `--graceful-timeout SECONDS` |" in section
    assert "| Environment | `APPSERVER_GRACEFUL_TIMEOUT` |" in section
    assert "| Config file | `graceful_timeout` |" in section
    assert "| Type | a whole number >= 0 |" in section
    assert "| Default | `30` |" in section


def test_names_keys_and_env_vars_are_derived_from_the_name():
    setting = S.BY_NAME["limit-request-field-size"]
    assert setting.key == "limit_request_field_size"
    assert setting.env == "APPSERVER_LIMIT_REQUEST_FIELD_SIZE"
    assert S.BY_NAME["version"].env is None


def test_names_and_flags_are_unique():
    names = [s.name for s in S.SETTINGS]
    flags = [f for s in S.SETTINGS for decl in s.flags + s.aliases for f in decl.split("/")]
    assert len(names) == len(set(names)) == len(S.BY_NAME)
    assert len(flags) == len(set(flags))


@pytest.mark.parametrize("setting", S.SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_well_formed(setting):
    assert setting.section in schema.SECTIONS
    assert setting.help.endswith(".")
    assert "--" + setting.name in setting.flags[-1]
    if setting.type == schema.BOOL:
        assert setting.metavar is None
    else:
        assert setting.metavar


@pytest.mark.parametrize("setting", S.CONFIG_SETTINGS, ids=lambda s: s.name)
def test_every_default_is_a_valid_value(setting):
    assert convert.convert(setting, setting.default, "default") == setting.default


def test_the_settings_the_server_needs_exist():
    needed = {"bind", "workers", "timeout", "graceful-timeout", "keep-alive",
              "backlog", "chdir", "pythonpath", "env", "pid", "name", "log-level",
              "access-logfile", "error-logfile", "preload", "max-requests",
              "max-requests-jitter", "limit-request-line", "limit-request-fields",
              "limit-request-field-size", "limit-request-body", "header-timeout",
              "read-timeout", "send-timeout", "max-connections"}
    assert needed <= {s.name for s in S.CONFIG_SETTINGS}
    assert {s.name for s in S.SETTINGS if s.cli_only} == {
        "config", "check-config", "print-config", "version"}


@pytest.mark.parametrize("name, text", [
    ("workers", "a whole number >= 1 or auto"),
    ("limit-request-fields", "a whole number from 0 to 32768"),
    ("read-timeout", "a number > 0"),
    ("log-level", "one of debug, info, warning, error, critical"),
    ("env", "KEY=VALUE"),
])
def test_describe(name, text):
    assert convert.describe(S.BY_NAME[name]) == text


@pytest.mark.parametrize("name, text", [
    ("backlog", "2048"), ("keep-alive", "5"), ("preload", "off"),
    ("pid", "none (no pid file)"), ("env", "none"), ("log-level", "info"),
])
def test_default_text(name, text):
    assert convert.default_text(S.BY_NAME[name]) == text


@pytest.mark.parametrize("name, raw", [
    ("workers", True), ("workers", 2.0), ("keep-alive", "inf"), ("chdir", 3),
    ("bind", 8000), ("env", None), ("preload", 1),
])
def test_config_file_values_of_the_wrong_type(name, raw):
    with pytest.raises(ConfigError) as info:
        convert.convert(S.BY_NAME[name], raw, "config file x.py")
    assert str(info.value).startswith(name + ": expected ")
    assert str(info.value).endswith("got %r (from config file x.py)" % (raw,))
