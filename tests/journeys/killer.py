"""Run the clientela CLI and SIGKILL it at a chosen point (for the kill-and-rerun tests).

    python killer.py PHASE N -- <clientela arguments>

PHASE is where the process dies, on the Nth time it gets there:

* `planning`: inside the ledger's planning transaction, after the insert
  and before the commit;
* `before_call`: a message is marked `calling` but the provider was not
  called;
* `after_call`: the provider accepted the message, the ledger was not told;
* `recording`: right after a batch's answers were recorded.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any


def die_on(count: int, before: bool, wrapped: Callable[..., Any]) -> Callable[..., Any]:
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if before and calls["n"] == count:
            os.kill(os.getpid(), signal.SIGKILL)
        result = wrapped(*args, **kwargs)
        if not before and calls["n"] == count:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    return wrapper


def main() -> int:
    phase, count = sys.argv[1], int(sys.argv[2])
    args = sys.argv[sys.argv.index("--") + 1:]
    from clientela_channel_twilio import channel as twilio

    from clientela.journeys import ledger

    if phase == "planning":
        ledger._count = die_on(2, False, ledger._count)  # the count after the INSERT
    elif phase == "before_call":
        twilio.TwilioSender.send = die_on(count, True, twilio.TwilioSender.send)
    elif phase == "after_call":
        twilio.TwilioSender.send = die_on(count, False, twilio.TwilioSender.send)
    elif phase == "recording":
        ledger.record = die_on(count, False, ledger.record)
    elif phase != "none":
        raise SystemExit(f"unknown phase {phase}")
    from clientela.cli.app import main as clientela

    return clientela(args)


if __name__ == "__main__":
    raise SystemExit(main())
