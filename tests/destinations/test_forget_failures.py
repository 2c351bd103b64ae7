"""`forget` goes on through every destination, and tells a destination's failure from a bug."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from clientela.cli import push as push_commands
from clientela.cli.app import main
from clientela.cli.common import workspace
from clientela.destinations.api import ForgetResult, Opener
from clientela.destinations.forget import forget
from clientela.http.errors import HttpError
from clientela.privacy import mask_email
from clientela.store import Store

from .fakes.mailchimp import FakeMailchimp
from .helpers import destination, email, run


class _Broken:
    """A destination whose `forget` has a bug: it raises a TypeError naming the address."""

    def forget(self, address: str) -> ForgetResult:
        raise TypeError(f"cannot forget {address}: expected str, got NoneType")

    def close(self) -> None:
        pass


class _Refusing:
    """A destination whose platform refuses the key, as an `HttpError` after the retries."""

    def forget(self, address: str) -> ForgetResult:
        raise HttpError("Mailchimp", "POST", "/3.0/lists/L1/members/x/actions/delete-permanent",
                        401, f"API Key Invalid for {address}", code="API Key Invalid")

    def close(self) -> None:
        pass


def _outcomes(store_path: Path) -> list[tuple[str, str, str]]:
    with Store(store_path) as store:
        return [(str(a), str(b), str(c)) for a, b, c in store.con.execute(
            "SELECT destination, status, detail FROM forget_outcomes "
            "ORDER BY recorded_at, destination").fetchall()]


def _forget_cli(store_path: Path, who: str, openers: Mapping[str, Opener],
                monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                ) -> tuple[int, str]:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(store_path.parent)
    monkeypatch.setattr(push_commands, "configured_destinations", lambda: dict(openers))
    workspace.config_file = workspace.store_override = workspace._settings = None
    workspace.debug = False
    code = main(["--store", str(store_path), "forget", who])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_refused_key_is_a_masked_failure_and_the_others_are_forgotten(
        store_path: Path, mailchimp: FakeMailchimp, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    run(store_path, mailchimp)
    person = email(7)
    openers = {"mailchimp": lambda: destination(mailchimp), "refused": _Refusing}

    code, output = _forget_cli(store_path, person, openers, monkeypatch, capsys)

    assert code == 1
    assert "some destinations could not forget this person" in output
    assert "bug" not in output and person not in output
    assert mailchimp.member(person) is None
    [(_, deleted, _), (refused, failed, detail)] = _outcomes(store_path)
    assert (deleted, refused, failed) == ("deleted", "refused", "failed")
    assert detail == ("HttpError: Mailchimp: POST /3.0/lists/L1/members/x/actions/"
                      "delete-permanent answered 401 [API Key Invalid]: API Key Invalid for "
                      f"{mask_email(person)}")


def test_a_bug_in_one_destination_is_recorded_failed_then_raised_after_the_others(
        store_path: Path, mailchimp: FakeMailchimp) -> None:
    run(store_path, mailchimp)
    person = email(9)
    openers: dict[str, Opener] = {"broken": _Broken, "mailchimp": lambda: destination(mailchimp)}

    with Store(store_path) as store, pytest.raises(TypeError, match="expected str") as raised:
        forget(store, person, openers)

    assert "raised by destination 'broken' while forgetting a person" in raised.value.__notes__
    assert mailchimp.member(person) is None  # tried after the bug, and forgotten
    assert _outcomes(store_path) == [
        ("broken", "failed",
         f"TypeError: cannot forget {mask_email(person)}: expected str, got NoneType"),
        ("mailchimp", "deleted", "permanently deleted (actions/delete-permanent)")]
    with Store(store_path) as store:
        assert store.con.execute("SELECT status FROM forget_requests").fetchall() == [("open",)]
        # the next forget retries the destination that failed, and only that one
        again = forget(store, person, {"broken": lambda: destination(mailchimp),
                                       "mailchimp": lambda: destination(mailchimp)})
    assert again.done and again.outcomes == {"broken": "absent", "mailchimp": "deleted"}


def test_the_cli_reports_a_bug_in_a_destination_as_a_bug(
        store_path: Path, mailchimp: FakeMailchimp, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    run(store_path, mailchimp)
    person = email(11)
    openers: dict[str, Opener] = {"broken": _Broken, "mailchimp": lambda: destination(mailchimp)}

    code, output = _forget_cli(store_path, person, openers, monkeypatch, capsys)

    assert code == 1
    assert "this looks like a bug in clientela" in output
    assert person not in output
    assert mailchimp.member(person) is None
    assert [(name, status) for name, status, _ in _outcomes(store_path)] == [
        ("broken", "failed"), ("mailchimp", "deleted")]


class _BrokenOtherwise:
    """A second destination with another bug."""

    def forget(self, address: str) -> ForgetResult:
        raise KeyError(f"no member field for {address}")

    def close(self) -> None:
        pass


def test_several_bugs_raise_the_first_and_name_the_others_masked(
        store_path: Path, mailchimp: FakeMailchimp) -> None:
    run(store_path, mailchimp)
    person = email(13)
    openers: dict[str, Opener] = {"broken": _Broken, "mailchimp": lambda: destination(mailchimp),
                                  "zbroken": _BrokenOtherwise}

    with Store(store_path) as store, pytest.raises(TypeError, match="expected str") as raised:
        forget(store, person, openers)

    assert raised.value.__notes__ == [
        "raised by destination 'broken' while forgetting a person",
        f"also: KeyError: 'no member field for {mask_email(person)}' (raised by destination "
        "'zbroken' while forgetting a person)"]
    assert [(name, status) for name, status, _ in _outcomes(store_path)] == [
        ("broken", "failed"), ("mailchimp", "deleted"), ("zbroken", "failed")]
