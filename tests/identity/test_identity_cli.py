"""`clientela identity ...`: what a person sees, masked, and the exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from clientela.cli.app import main
from clientela.cli.common import workspace
from clientela.testing.pytest_plugin import clientela_store_toml


def _csv(path: Path, rows: list[str]) -> Path:
    path.write_text("customer_id,email,phone,cpf\n" + "\n".join(rows) + "\n")
    return path


def store_args(target: str) -> list[str]:
    """How a command line names the store: `--store FILE`, or nothing for a PostgreSQL store
    (the workspace's clientela.toml names it in `[store] url`)."""
    return [] if target.startswith("postgresql://") else ["--store", target]


@pytest.fixture
def two_sources(tmp_path: Path, clientela_store_target: str) -> str:
    """Two sources imported into a DuckDB file, then into a PostgreSQL database (`--store`
    takes either): every test expects the same output of both."""
    store = clientela_store_target
    (tmp_path / "clientela.toml").write_text(clientela_store_toml(store), encoding="utf-8")
    web = _csv(tmp_path / "web.csv", ["w1,Ana@Example.com,,529.982.247-25",
                                      "w2,bia@example.com,(11) 8765-4321,",
                                      "w3,casal@example.com,,123.456.789-09"])
    pos = _csv(tmp_path / "pos.csv", ["p1,,,52998224725", "p2,,11987654321,",
                                      "p3,casal@example.com,,111.444.777-35"])
    for file, name in ((web, "web"), (pos, "pos")):
        assert main([*store_args(store), "import", str(file), "--entity", "customers",
                     "--source-name", name]) == 0
    return store


def test_stats(two_sources: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main([*store_args(two_sources), "identity", "stats"]) == 0
    out = capsys.readouterr().out
    for line in ("customer records", "│ 6", "persons  ", "│ 4", "records joined by cpf",
                 "records joined by phone", "conflicts (cpf)"):
        assert line in out


def test_show_masks_and_lists_the_records(two_sources: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main([*store_args(two_sources), "identity", "show", "529.982.247-25"]) == 0
    out = capsys.readouterr().out
    assert "person p1 (found by cpf)" in out
    assert "w1" in out and "a***@e***.com" in out and "***.***.***-25" in out
    assert "529.982" not in out and "ana@" not in out.lower()


@pytest.mark.parametrize(("who", "shown"), [
    ("zé@example.com", "z***@e***.com"), ("(11) 99999-0000", "***00"),
    ("529.982.247-24", "***.***.***-24")])
def test_show_of_nobody_is_exit_2_and_masked(two_sources: str, who: str, shown: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*store_args(two_sources), "identity", "show", who]) == 2
    assert f"nobody holds {shown}" in capsys.readouterr().err


def test_conflicts_then_merge_and_split(two_sources: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main([*store_args(two_sources), "identity", "conflicts"]) == 0
    out = capsys.readouterr().out
    assert "c***@e***.com" in out and "p3, w3" in out
    assert main([*store_args(two_sources), "identity", "merge", "w3", "p3",
                 "--reason", "same couple account"]) == 0
    assert "merged the persons of w3 and p3 (1 record(s) changed person)" in \
        capsys.readouterr().out
    assert main([*store_args(two_sources), "identity", "split", "p3", "--reason", "no"]) == 0
    assert "revoked 1 merge(s) involving p3" in capsys.readouterr().out
    assert main([*store_args(two_sources), "identity", "merge", "w3", "nobody",
                 "--reason", "x"]) == 2
    assert "no customer 'nobody' in the store" in capsys.readouterr().err
    assert main([*store_args(two_sources), "identity", "conflicts", "--kind", "odd"]) == 2


def test_bad_identity_config_names_the_field(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "clientela.toml").write_text('[identity]\nrules = ["cpf", "email", "fax"]\n')
    assert main(["--store", str(tmp_path / "s.duckdb"), "identity", "stats"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "identity.rules.2: Input should be 'cpf', 'email', 'phone' or 'link'" in err


def test_disabled_in_the_config_drops_the_links(two_sources: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "clientela.toml").write_text(clientela_store_toml(two_sources)
                                             + "[identity]\nenabled = false\n")
    workspace._settings = None  # a new command line reads the file again
    capsys.readouterr()
    assert main([*store_args(two_sources), "identity", "stats"]) == 0
    assert "identity resolution is off" in capsys.readouterr().out
    assert main([*store_args(two_sources), "identity", "merge", "w1", "w2",
                 "--reason", "x"]) == 2
    from clientela.store import Store

    with Store(two_sources) as store:
        assert store.count("identity_links") == 0
