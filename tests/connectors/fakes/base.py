"""The fake-server base now ships with clientela (`clientela.testing.fake_server`), so a
connector outside this repository builds its fake on it too; kept here for old imports."""

from clientela.testing.fake_server import (  # noqa: F401
    FakeServer,
    Faults,
    Logged,
    Reply,
    Request,
    VirtualClock,
    render_list,
)
