"""Twilio Programmable Messaging: send, classify, look up, verify and read callbacks.

`POST /2010-04-01/Accounts/{sid}/Messages.json` with form fields To, From
(or MessagingServiceSid), Body or ContentSid + ContentVariables, and
StatusCallback; HTTP basic auth with the account SID and auth token.
WhatsApp addresses are written `whatsapp:+55...`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from clientela.channels import ChannelEvent, OutgoingMessage, SendResult, WebhookRequest
from clientela.channels.providers import ErrorClasses, call, failure, json_of, session
from clientela.channels.signing import same, url_form_signature

API = "https://api.twilio.com"
ERRORS = ErrorClasses(
    opted_out=frozenset({"21610"}),
    retry=frozenset({"20429", "21611", "30001", "63017"}),
    final=frozenset({"21211", "21614", "21408", "63016", "21612"}),
)
STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed",
            "undelivered": "failed"}
"""Twilio's statuses that the ledger records (queued, sending and accepted say nothing new)."""
KEY_PARAM = "clientela_key"


class TwilioConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_sid: str = Field(pattern=r"^AC[0-9a-zA-Z]{8,}$", description="The account SID (AC...)")
    auth_token: SecretStr
    from_number: str | None = Field(default=None, description="The sender, E.164 (+55...)")
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-zA-Z]{8,}$")
    status_callback: str | None = Field(default=None, description=(
        "The public URL of this channel's webhook (…/channels/<name>); statuses are signed "
        "against it"))
    base_url: str = API
    per_second: float | None = Field(default=None, gt=0, description=(
        "Messages per second (a long code sends 1; a short code or a service more)"))


def _address(to: str, whatsapp: bool) -> str:
    return f"whatsapp:{to}" if whatsapp and not to.startswith("whatsapp:") else to


class TwilioSender:
    def __init__(self, config: TwilioConfig, *, whatsapp: bool = False) -> None:
        if not config.from_number and not config.messaging_service_sid:
            raise ValueError("[channels] twilio: set from_number or messaging_service_sid")
        self.config = config
        self.whatsapp = whatsapp
        self.session = session(auth=(config.account_sid, config.auth_token.get_secret_value()))
        self.url = (f"{config.base_url.rstrip('/')}/2010-04-01/Accounts/{config.account_sid}"
                    "/Messages.json")

    def _form(self, message: OutgoingMessage) -> dict[str, str]:
        form = {"To": _address(message.to, self.whatsapp)}
        if self.config.messaging_service_sid:
            form["MessagingServiceSid"] = self.config.messaging_service_sid
        else:
            form["From"] = _address(str(self.config.from_number), self.whatsapp)
        if message.template:
            form["ContentSid"] = message.template
            form["ContentVariables"] = json.dumps(
                {str(i + 1): v for i, v in enumerate(message.variables.values())})
        else:
            form["Body"] = message.text or ""
        if self.config.status_callback:
            joiner = "&" if "?" in self.config.status_callback else "?"
            form["StatusCallback"] = (self.config.status_callback + joiner
                                      + urlencode({KEY_PARAM: message.key}))
        return form

    def send(self, message: OutgoingMessage) -> SendResult:
        response = call(self.session, "POST", self.url, data=self._form(message))
        if isinstance(response, SendResult):
            return response
        body = json_of(response) or {}
        if response.status_code in (200, 201):
            return SendResult("sent", provider_id=str(body.get("sid")))
        code = body.get("code")
        return failure(response, ERRORS, str(code) if code is not None else None,
                       body.get("message"))

    def lookup(self, message: OutgoingMessage) -> SendResult | None:
        """The account's messages to this address, newest first, matched on the body; a
        template message (no body of ours to match) cannot be told apart."""
        from clientela.channels import LookupUnavailable

        if message.template:
            raise LookupUnavailable("a Twilio template message is settled by its status callback")
        url: str | None = self.url
        params: dict[str, str] | None = {"To": _address(message.to, self.whatsapp),
                                         "PageSize": "100"}
        while url:
            response = call(self.session, "GET", url, params=params)
            if isinstance(response, SendResult) or response.status_code != 200:
                raise LookupUnavailable("Twilio's message list did not answer")
            page = json_of(response) or {}
            for item in page.get("messages", []):
                if item.get("body") == (message.text or "") and _since(item, message):
                    return SendResult("sent", provider_id=str(item.get("sid")))
            following = page.get("next_page_uri")
            url = f"{self.config.base_url.rstrip('/')}{following}" if following else None
            params = None
        return None

    def close(self) -> None:
        self.session.close()


CLOCK_SKEW = timedelta(minutes=5)


def _since(item: Mapping[str, object], message: OutgoingMessage) -> bool:
    """The listed message was created after the interrupted call (less a clock skew)."""
    if message.attempted_at is None:
        return True
    try:
        created = parsedate_to_datetime(str(item.get("date_created")))
    except (TypeError, ValueError):
        return True
    return created >= message.attempted_at - CLOCK_SKEW


def verify_webhook(config: TwilioConfig, request: WebhookRequest) -> bool:
    expected = url_form_signature(config.auth_token.get_secret_value(), request.url, request.form)
    return same(request.header("X-Twilio-Signature"), expected)


def _when(form: Mapping[str, str]) -> datetime:
    for name in ("Timestamp", "DateUpdated", "DateSent"):
        if form.get(name):
            try:
                return parsedate_to_datetime(form[name]).astimezone(UTC)
            except (TypeError, ValueError):
                pass
    return datetime.now(UTC)


def parse_webhook(config: TwilioConfig, request: WebhookRequest) -> list[ChannelEvent]:
    """A status callback (MessageStatus) or an incoming message (Body, From)."""
    form = request.form
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = form.get("MessageStatus") or form.get("SmsStatus")
    if status and status != "received":
        mapped = STATUSES.get(status)
        if mapped is None:
            return []
        key = dict(parse_qsl(urlsplit(request.url).query)).get(KEY_PARAM)
        code = form.get("ErrorCode")
        return [ChannelEvent("status", f"{sid}:{status}", _when(form), provider_id=sid, key=key,
                             status=mapped,  # type: ignore[arg-type]
                             reason=f"twilio {code}" if code else None,
                             opted_out=code == "21610")]
    if form.get("From") is not None and form.get("Body") is not None:
        sender = form["From"].removeprefix("whatsapp:")
        return [ChannelEvent("inbound", sid, _when(form), provider_id=sid, address=sender,
                             text=form.get("Body"))]
    return []


def handshake(config: TwilioConfig, query: Mapping[str, str]) -> str | None:
    return None
