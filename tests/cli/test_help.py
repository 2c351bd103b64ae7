"""`--help` shows words a person reads (PATH, INTEGER, nothing after a flag), in 80 columns."""

from __future__ import annotations

import pytest

COMMANDS = [[], ["init"], ["demo"], ["import"], ["sync"], ["schema"], ["quarantine"],
            ["plugins"], ["kpi"], ["segments"], ["segments", "rfm"], ["clv"], ["push"],
            ["forget"], ["serve"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "clientela")
def test_help_has_real_metavars_and_fits(run, command: list[str]) -> None:
    ran = run(*command, "--help")
    assert ran.exit_code == 0, ran.output
    for python_type in ("<bool>", "<str>", "<path>", "<int", "<list[", "{path}", "{PATH}"):
        assert python_type not in ran.out, (python_type, ran.out)
    assert all(len(line) <= 80 for line in ran.out.splitlines())
