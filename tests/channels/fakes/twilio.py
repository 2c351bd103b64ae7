"""A fake Twilio Programmable Messaging API (2010-04-01) on 127.0.0.1.

* `POST /2010-04-01/Accounts/{sid}/Messages.json` (form): HTTP basic auth
  with the account SID and auth token (else 401, code 20003); `To` must be
  E.164 (else 400, 21211); a recipient who replied STOP gets 400, 21610;
  free text (`Body`) to WhatsApp outside the 24-hour window gets 400,
  63016; beyond `per_second` sends in a second, 429 with code 20429 and
  `Retry-After`. Accepted: 201 with the message resource (`sid`, `status`
  queued).
* `GET .../Messages.json?To=...&PageSize=N`: newest first, paged with
  `next_page_uri`.
* `status_callbacks()` builds the signed form POSTs Twilio would make to
  each message's `StatusCallback` (queued, sent, delivered, and read for
  WhatsApp; out of order, some never).
"""

from __future__ import annotations

import base64
import itertools
import re
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from clientela.channels.signing import url_form_signature
from clientela.testing.fake_server import Reply, Request

from .common import Accepted, MessagingFake

E164 = re.compile(r"^\+\d{8,15}$")
SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "twilio-auth-token-0123456789"


def error(status: int, code: int, message: str, **headers: str) -> Reply:
    return Reply(status, {"code": code, "message": message, "more_info":
                          f"https://www.twilio.com/docs/errors/{code}", "status": status},
                 dict(headers))


class FakeTwilio(MessagingFake):
    def __init__(self, per_second: float = 1_000.0) -> None:
        super().__init__(per_second)
        self.sid, self.token = SID, TOKEN
        self.opted_out: set[str] = set()
        self.invalid: set[str] = set()
        self.whatsapp_windows: set[str] = set()
        self.callbacks: dict[str, str] = {}
        """message sid -> StatusCallback URL."""
        self._ids = itertools.count(1)

    def __enter__(self) -> FakeTwilio:
        self.start()
        return self

    @property
    def base(self) -> str:
        return f"/2010-04-01/Accounts/{self.sid}/Messages.json"

    def _authorised(self, request: Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.sid}:{self.token}".encode()).decode()
        return request.header("Authorization") == expected

    def route(self, request: Request) -> Reply:
        if not self._authorised(request):
            return error(401, 20003, "Authenticate")
        if request.path != self.base:
            return error(404, 20404, "The requested resource was not found")
        if request.method == "GET":
            return self._list(request)
        if request.method != "POST":
            return error(405, 20004, "Method not allowed")
        self.send_calls += 1
        form: dict[str, str] = request.body if isinstance(request.body, dict) else {}
        to = form.get("To", "")
        whatsapp = to.startswith("whatsapp:")
        number = to.removeprefix("whatsapp:")
        if not E164.match(number) or number in self.invalid:
            return error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return error(400, 21603, "A 'From' phone number is required.")
        if not form.get("Body") and not form.get("ContentSid"):
            return error(400, 21602, "Message body is required.")
        if number in self.opted_out:
            return error(400, 21610, "Attempt to send to unsubscribed recipient")
        if whatsapp and form.get("Body") and number not in self.whatsapp_windows:
            return error(400, 63016, "Failed to send freeform message because you are outside "
                                     "the allowed window. Please use a Template.")
        if self.over_rate():
            return error(429, 20429, "Too Many Requests", **{"Retry-After": "1"})
        sid = f"SM{next(self._ids):032x}"
        callback = form.get("StatusCallback")
        key = None
        if callback and "clientela_key=" in callback:
            key = callback.split("clientela_key=", 1)[1].split("&")[0]
            self.callbacks[sid] = callback
        with self.lock:
            self.accepted.append(Accepted(sid, to, key, form.get("Body"), form.get("ContentSid"),
                                          extra={"whatsapp": whatsapp}, at=time.time()))
        return Reply(201, self._resource(self.accepted[-1]))

    def _resource(self, message: Accepted) -> dict[str, Any]:
        return {"sid": message.id, "account_sid": self.sid, "to": message.to,
                "date_created": format_datetime(datetime.fromtimestamp(message.at, UTC)),
                "body": message.body or "", "status": "queued", "direction": "outbound-api",
                "error_code": None, "num_segments": "1"}

    def _list(self, request: Request) -> Reply:
        to = request.query.get("To")
        size = int(request.query.get("PageSize", "50"))
        page = int(request.query.get("Page", "0"))
        found = [m for m in reversed(self.accepted) if to is None or m.to == to]
        chunk = found[page * size:(page + 1) * size]
        following = None
        if (page + 1) * size < len(found):
            following = f"{self.base}?{urlencode({'To': to or '', 'PageSize': size, 'Page': page + 1})}"
        return Reply(200, {"messages": [self._resource(m) for m in chunk], "page": page,
                           "page_size": size, "next_page_uri": following})

    # -- webhooks ---------------------------------------------------------------------

    def sign(self, url: str, form: dict[str, str]) -> dict[str, str]:
        return {"X-Twilio-Signature": url_form_signature(self.token, url, form),
                "Content-Type": "application/x-www-form-urlencoded"}

    def status_callbacks(self, *, seed: int = 0, drop: float = 0.0,
                         failed: set[str] | frozenset[str] = frozenset()
                         ) -> list[tuple[str, dict[str, str]]]:
        """(url, form) for every status of every accepted message, out of order; messages whose
        sid is in `failed` end `undelivered` with 30003."""
        events: list[tuple[str, dict[str, str]]] = []
        for message in self.accepted:
            url = self.callbacks.get(message.id)
            if url is None:
                continue
            statuses = ["queued", "sent"]
            if message.id in failed:
                statuses.append("undelivered")
            else:
                statuses.append("delivered")
                if message.extra.get("whatsapp"):
                    statuses.append("read")
            for status in statuses:
                form = {"MessageSid": message.id, "SmsSid": message.id, "AccountSid": self.sid,
                        "MessageStatus": status, "To": message.to, "From": "+5511999990000"}
                if status == "undelivered":
                    form["ErrorCode"] = "30003"
                events.append((url, form))
        return self.shuffled(events, seed=seed, drop=drop)

    def inbound(self, url: str, from_number: str, body: str,
                sid: str = "SMinbound0001") -> tuple[str, dict[str, str]]:
        return url, {"MessageSid": sid, "SmsSid": sid, "AccountSid": self.sid,
                     "From": from_number, "To": "+5511999990000", "Body": body,
                     "SmsStatus": "received"}
