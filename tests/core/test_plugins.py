from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from clientela import hookspecs, plugins
from clientela.cli.app import main

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugin_hooks.md"


def write_module(folder: Path, name: str, body: str) -> None:
    (folder / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")


def fake_distribution(folder: Path, dist: str, entry: str, module: str) -> None:
    """A minimal installed distribution on sys.path, as pip would leave it."""
    info = folder / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[clientela]\n{entry} = {module}\n")


GOOD = """
    from clientela.channels import Channel
    from clientela.hookspecs import hookimpl

    @hookimpl
    def register_channels(register):
        register(Channel("telegram", "Telegram", "Telegram"))
        register(Channel("sms", "SMS again", "SMS"))      # clashes with a built-in
        register(Channel("Bad Name", "x", "x"))           # invalid name
        register("not a channel")                         # wrong type
"""


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               app_commands_restored: None) -> Iterator[Path]:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for name in ("good_plugin", "broken_plugin", "raising_plugin", "command_plugin"):
        sys.modules.pop(name, None)


def test_builtins_register_through_the_entry_point() -> None:
    pset = plugins.plugin_set()
    names = [info.name for info in pset.plugins]
    assert names == ["clientela-builtins"]
    assert pset.plugins[0].distribution == "clientela"
    assert set(pset.registry.channels) == {"email", "sms", "whatsapp", "push", "call"}
    assert "file" in pset.registry.sources
    assert pset.failures == []


def test_registration_is_validated_and_clashes_reported(plugin_dir: Path) -> None:
    write_module(plugin_dir, "good_plugin", GOOD)
    plugins.add_local_plugin("good_plugin")
    pset = plugins.plugin_set()
    assert "telegram" in pset.registry.channels
    assert pset.registry.channels["sms"].title == "SMS"  # the built-in keeps its name
    assert pset.registry.owners[("channel", "telegram")] == "good_plugin"
    messages = [p.message for p in pset.failures if p.plugin == "good_plugin"]
    assert messages == [
        "channel 'sms' is already registered by 'clientela-builtins'; ignored",
        "channel name 'Bad Name' is not valid: expected lowercase letters, digits and "
        "underscores, starting with a letter",
        "register_channels got str, expected Channel",
    ]


def test_a_plugin_that_fails_to_import_is_reported_and_others_work(plugin_dir: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    write_module(plugin_dir, "broken_plugin", "import not_a_module_anywhere\n")
    write_module(plugin_dir, "good_plugin", GOOD)
    fake_distribution(plugin_dir, "broken-plugin", "broken", "broken_plugin")
    fake_distribution(plugin_dir, "good-plugin", "good", "good_plugin")
    monkeypatch.setenv(plugins.LOAD_ENV, "broken-plugin,good-plugin")
    pset = plugins.plugin_set()
    assert [p.name for p in pset.plugins] == ["clientela-builtins", "good"]
    assert pset.plugins[1].version == "1.2.3"
    broken = [p for p in pset.failures if p.plugin == "broken"]
    assert broken and "No module named 'not_a_module_anywhere'" in broken[0].message
    assert "telegram" in pset.registry.channels


def test_load_plugins_env_limits_third_party_plugins(plugin_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    write_module(plugin_dir, "good_plugin", GOOD)
    fake_distribution(plugin_dir, "good-plugin", "good", "good_plugin")
    monkeypatch.setenv(plugins.LOAD_ENV, "")
    assert [p.name for p in plugins.plugin_set().plugins] == ["clientela-builtins"]
    plugins.reset()
    monkeypatch.delenv(plugins.LOAD_ENV)
    assert "good" in [p.name for p in plugins.plugin_set().plugins]


def test_a_hook_that_raises_is_reported(plugin_dir: Path) -> None:
    write_module(plugin_dir, "raising_plugin", """
        from clientela.hookspecs import hookimpl

        @hookimpl
        def register_metrics(register):
            raise RuntimeError("boom")
    """)
    plugins.add_local_plugin("raising_plugin")
    failures = plugins.plugin_set().failures
    assert [(p.plugin, p.message) for p in failures] == [
        ("raising_plugin", "register_metrics failed: RuntimeError: boom")
    ]


def test_plugins_command_lists_plugins_and_problems(plugin_dir: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    write_module(plugin_dir, "good_plugin", GOOD)
    assert main(["--plugin", "good_plugin", "plugins", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"name": "good_plugin"' in out
    assert '"channel": [\n          "telegram"\n        ]' in out
    assert "already registered by 'clientela-builtins'" in out


def test_every_hook_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    hooks = [name for name in dir(hookspecs) if name.startswith("register_")]
    assert len(hooks) == 6
    for hook in hooks:
        section = re.search(rf"^## {hook}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
        assert section, f"docs/plugin_hooks.md lacks a section for {hook}"
        body = section.group(1)
        for part in ("**Arguments.**", "**When it is called.**", "**Example.**", "@hookimpl"):
            assert part in body, f"the section of {hook} lacks {part}"


COMMANDS = """
    import typer

    from clientela.hookspecs import hookimpl

    @hookimpl
    def register_commands(cli):
        @cli.command(name="hello")
        def hello(name: str = typer.Option("world", help="Whom to greet.")) -> None:
            \"\"\"Greet someone.\"\"\"
            typer.echo(f"hello {name}")
"""


def test_a_plugin_adds_a_command_that_runs_and_shows_in_help(plugin_dir: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    write_module(plugin_dir, "command_plugin", COMMANDS)
    assert main(["--plugin", "command_plugin", "hello", "--name", "Ana"]) == 0
    assert capsys.readouterr().out == "hello Ana\n"
    assert main(["--plugin", "command_plugin", "--help"]) == 0
    assert "hello" in capsys.readouterr().out
