"""The provider fakes on 127.0.0.1 as fixtures, for the channel and the journey tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .fakes.mandrill import FakeMandrill
from .fakes.meta import FakeMeta
from .fakes.sendgrid import FakeSendGridMail
from .fakes.twilio import FakeTwilio
from .fakes.zenvia import FakeZenvia


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


@pytest.fixture
def mandrill() -> Iterator[FakeMandrill]:
    with FakeMandrill() as fake:
        yield fake


@pytest.fixture
def zenvia() -> Iterator[FakeZenvia]:
    with FakeZenvia() as fake:
        yield fake
