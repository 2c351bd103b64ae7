"""SendGrid Mail Send with the official SDK (`SendGridAPIClient(api_key, host=...)`)."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.eventwebhook import EventWebhook

from clientela.channels import (
    ChannelEvent,
    LookupUnavailable,
    OutgoingMessage,
    SendResult,
    WebhookRequest,
)
from clientela.channels.providers import ErrorClasses
from clientela.http import wait_from_headers
from clientela.privacy import mask_text

API = "https://api.sendgrid.com"
ERRORS = ErrorClasses()
KEY_ARG = "clientela_key"
SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
STATUSES = {"delivered": "delivered", "open": "read", "click": "read", "bounce": "failed",
            "dropped": "failed", "processed": "sent"}
OPT_OUTS = frozenset({"unsubscribe", "group_unsubscribe", "spamreport"})


class SendGridMailConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr
    from_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    from_name: str | None = None
    webhook_public_key: str | None = Field(default=None, description=(
        "The Event Webhook's verification key (base64 DER), as SendGrid shows it"))
    max_webhook_age: int = Field(default=600, ge=1, description=(
        "Seconds a signed webhook stays valid; older ones are replays"))
    base_url: str = API
    per_second: float | None = Field(default=None, gt=0)


def _decode(body: Any) -> Any:
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _message(decoded: Any) -> str | None:
    if isinstance(decoded, dict) and decoded.get("errors"):
        first = decoded["errors"][0]
        return str(first.get("message")) if isinstance(first, dict) else str(first)
    return None


class SendGridMailSender:
    def __init__(self, config: SendGridMailConfig) -> None:
        self.config = config
        self.client = SendGridAPIClient(api_key=config.api_key.get_secret_value(),
                                        host=config.base_url.rstrip("/"))

    def body(self, message: OutgoingMessage) -> dict[str, Any]:
        sender: dict[str, str] = {"email": self.config.from_email}
        if self.config.from_name:
            sender["name"] = self.config.from_name
        return {
            "personalizations": [{"to": [{"email": message.to}]}],
            "from": sender,
            "subject": message.subject or "",
            "content": [{"type": "text/plain", "value": message.text or ""}],
            "custom_args": {KEY_ARG: message.key},
            "categories": [message.purpose],
        }

    def send(self, message: OutgoingMessage) -> SendResult:
        try:
            response = self.client.client.mail.send.post(request_body=self.body(message))
        except HTTPError as error:
            status = int(error.status_code)
            outcome = ERRORS.classify(status, None)
            wait = wait_from_headers(error.headers, reset_epoch="X-RateLimit-Reset") \
                if status == 429 else None
            return SendResult(outcome, code=str(status),
                              detail=mask_text(_message(_decode(error.body)) or "")[:200] or None,
                              retry_after=wait)
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError,
                TimeoutError) as error:
            return SendResult("retry", code=type(error).__name__)
        message_id = response.headers.get("X-Message-Id") if response.headers else None
        return SendResult("sent", provider_id=message_id)

    def lookup(self, message: OutgoingMessage) -> SendResult | None:
        """The Email Activity API, filtered on the key in the message's custom args."""
        query = f'unique_args[\'{KEY_ARG}\']="{message.key}"'
        try:
            response = self.client.client.messages.get(query_params={"query": query, "limit": 1})
        except (HTTPError, urllib.error.URLError, http.client.HTTPException,
                ConnectionError, TimeoutError) as error:
            raise LookupUnavailable(f"SendGrid's activity feed did not answer "
                                    f"({type(error).__name__})") from None
        found = (_decode(response.body) or {}).get("messages") or []
        if not found:
            return None
        return SendResult("sent", provider_id=str(found[0].get("msg_id")))

    def close(self) -> None:
        return None


def verify_webhook(config: SendGridMailConfig, request: WebhookRequest,
                   clock: Callable[[], float] = time.time) -> bool:
    if not config.webhook_public_key:
        return False
    signature, stamp = request.header(SIGNATURE), request.header(TIMESTAMP)
    if not signature or not stamp or not stamp.isdigit():
        return False
    if abs(clock() - int(stamp)) > config.max_webhook_age:
        return False  # a replay of an old delivery, however well signed
    try:
        checker = EventWebhook(config.webhook_public_key)
        return bool(checker.verify_signature(request.body.decode(), signature, stamp))
    except (ValueError, TypeError, UnicodeDecodeError):
        return False


def parse_webhook(config: SendGridMailConfig, request: WebhookRequest) -> list[ChannelEvent]:
    try:
        items = json.loads(request.body)
    except ValueError:
        return []
    events: list[ChannelEvent] = []
    for item in items if isinstance(items, list) else []:
        kind = item.get("event")
        when = datetime.fromtimestamp(int(item.get("timestamp", 0)), UTC)
        message_id = str(item.get("sg_message_id", "")).split(".")[0] or None
        status = STATUSES.get(kind)
        if kind in OPT_OUTS:
            status = "delivered"
        if status is None:
            continue
        events.append(ChannelEvent(
            "status", str(item.get("sg_event_id")), when, provider_id=message_id,
            key=item.get(KEY_ARG), status=status,  # type: ignore[arg-type]
            reason=f"sendgrid {kind}: {item.get('reason') or item.get('type') or ''}".strip()
            if status == "failed" else None,
            opted_out=kind in OPT_OUTS))
    return events


def handshake(config: SendGridMailConfig, query: Mapping[str, str]) -> str | None:
    return None
