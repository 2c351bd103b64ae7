"""A fake Zenvia API v2 on 127.0.0.1.

* `POST /v2/channels/{sms|whatsapp}/messages` with `X-API-TOKEN` (else 401,
  `UNAUTHORIZED`): `from` must be the account's sender and `to` digits only
  (else 400, `VALIDATION_ERROR`); WhatsApp takes templates only. Accepted:
  200 with the message and its `id`.
* `status()` builds `MESSAGE_STATUS` webhook bodies for accepted messages.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from clientela.testing.fake_server import Reply, Request

from .common import Accepted, MessagingFake

TOKEN = "zenvia-token-0123456789"
SENDER = "minhaloja"


def error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"code": code, "message": message})


class FakeZenvia(MessagingFake):
    api_prefix = "/v2"

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)

    def __enter__(self) -> FakeZenvia:
        self.start()
        return self

    def route(self, request: Request) -> Reply:
        if request.header("X-API-TOKEN") != TOKEN:
            return error(401, "UNAUTHORIZED", "Unauthorized")
        match = re.fullmatch(r"/v2/channels/(sms|whatsapp)/messages", request.path)
        if request.method != "POST" or match is None:
            return error(404, "NOT_FOUND", "Not found")
        self.send_calls += 1
        body: dict[str, Any] = request.body if isinstance(request.body, dict) else {}
        channel = match.group(1)
        to = str(body.get("to", ""))
        if body.get("from") != SENDER or not re.fullmatch(r"\d{10,15}", to):
            return error(400, "VALIDATION_ERROR", "Validation error: from/to")
        contents = body.get("contents") or []
        if not contents:
            return error(400, "VALIDATION_ERROR", "contents is required")
        content = contents[0]
        if channel == "whatsapp" and content.get("type") != "template":
            return error(400, "VALIDATION_ERROR", "WhatsApp messages must be templates here")
        if self.over_rate():
            return error(429, "TOO_MANY_REQUESTS", "Too many requests")
        mid = f"zv-{next(self._ids):08d}"
        with self.lock:
            self.accepted.append(Accepted(mid, to, None, content.get("text"),
                                          content.get("templateId"),
                                          list((content.get("fields") or {}).values())))
        return Reply(200, {"id": mid, "from": SENDER, "to": to, "direction": "OUT",
                           "channel": channel, "contents": contents})

    def status(self, message: Accepted, code: str, event_id: str) -> bytes:
        return json.dumps({"id": event_id, "timestamp": "2026-12-10T15:00:05.000Z",
                           "type": "MESSAGE_STATUS", "subscriptionId": "sub-1",
                           "channel": "sms", "messageId": message.id, "contentIndex": 0,
                           "messageStatus": {"timestamp": "2026-12-10T15:00:04.000Z",
                                             "code": code, "description": code.lower()}}).encode()

    @staticmethod
    def reply(from_digits: str, text: str, event_id: str = "ev-in-1") -> bytes:
        return json.dumps({"id": event_id, "timestamp": "2026-12-10T15:00:00.000Z",
                           "type": "MESSAGE", "subscriptionId": "sub-2", "channel": "sms",
                           "direction": "IN", "message": {
                               "id": "m-in", "from": from_digits, "to": SENDER,
                               "direction": "IN", "channel": "sms",
                               "contents": [{"type": "text", "text": text}]}}).encode()
