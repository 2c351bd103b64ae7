"""The example metric, checked the way any plugin author can: on clientela's golden store,
on every available engine, through the `clientela_conformance` fixture."""

from __future__ import annotations

import pytest
from clientela_metric_example import BIG_TICKET_SHARE


def test_identical_on_every_engine(clientela_conformance) -> None:
    result = clientela_conformance([BIG_TICKET_SHARE], start="2024-01", end="2025-01",
                                   grain="quarter")
    shares = [r["value"] for r in result.rows() if r["measure"] == "value"]
    assert len(shares) == 4
    assert all(0 <= s <= 1 for s in shares)


def test_by_channel_and_threshold(clientela_conformance) -> None:
    low = clientela_conformance([BIG_TICKET_SHARE], start="2024-01", end="2025-01",
                                by="channel", params={"big_ticket_share": {"threshold": 0}})
    assert {r["value"] for r in low.rows() if r["measure"] == "value"} == {1.0}


def test_bad_threshold_is_refused(clientela_conformance) -> None:
    from clientela.kpi import KpiError

    with pytest.raises(KpiError, match="threshold"):
        clientela_conformance([BIG_TICKET_SHARE], start="2024-01", end="2025-01",
                              params={"big_ticket_share": {"threshold": -1}})
