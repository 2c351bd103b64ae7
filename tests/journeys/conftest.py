"""Fixtures for the journey tests: the provider fakes of the channel tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from channels.fakes.meta import FakeMeta
from channels.fakes.sendgrid import FakeSendGridMail
from channels.fakes.twilio import FakeTwilio


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def meta() -> Iterator[FakeMeta]:
    with FakeMeta(per_second=1_000.0) as fake:
        yield fake


@pytest.fixture
def sendgrid() -> Iterator[FakeSendGridMail]:
    with FakeSendGridMail() as fake:
        yield fake
