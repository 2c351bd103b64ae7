"""Opt-outs made in RD Station Marketing, read back through a segmentation (reads only).

RD Station records e-mail consent as the contact's `legal_bases` (category
`communications`, status `granted` or `declined`), but its API has no call that
lists contacts by legal basis or by change date: a contact's bases are only seen
one contact at a time (`GET /platform/contacts/email:{email}`), which would cost a
call per contact on every push at 120 calls a minute (a 10,000-contact base: 83
minutes, every push). What the API does list is a segmentation's members
(`GET /platform/segmentations/{id}/contacts`, paged with `page` and `page_size`,
up to 125 a page; "Consultar segmentações e contatos de uma segmentação" in RD
Station's developer changelog). So the user builds, in RD Station, one
segmentation of the contacts who must not be e-mailed (communications legal basis
declined; unsubscribed or hard-bounced, if the account filters on those too) and
names its id as `opt_out_segmentation`. Each read costs 1 call to check the
segmentation (`GET /platform/segmentations`: it must exist and must not be a
standard, everybody segmentation, which would opt the whole base out) plus
⌈M/125⌉ for its M members, whatever `since` is: the listing carries no change date.

Each member is an opt-out dated at the read (RD Station does not say when the
person declined); the engine records it only when it changes the store, so a
member already opted out there costs nothing. Never an opt-in: a CRM may hold
contacts nobody subscribed.
"""

from __future__ import annotations

from typing import Any

from clientela.config import ConfigError
from clientela.destinations.api import RemoteConsent
from clientela.http import HttpError
from clientela_rdstation.client import RDStationApi

PAGE = 125
"""Members per page of a segmentation listing (RD Station's maximum)."""


class SegmentationError(ConfigError):
    """`opt_out_segmentation` names no usable segmentation: the user's to fix (the command
    line says so in one line and exits 2)."""


def check_segmentation(api: RDStationApi, segmentation_id: int) -> str:
    """The segmentation's name; an error naming the setting when it does not exist or is a
    standard segmentation (the whole base)."""
    answer = api.call("GET", "platform/segmentations") or {}
    for item in answer.get("segmentations", []):
        if int(item.get("id", -1)) != segmentation_id:
            continue
        name = str(item.get("name", ""))
        if item.get("standard"):
            raise SegmentationError(
                f"opt_out_segmentation = {segmentation_id}: {name!r} is a standard RD Station "
                "segmentation (everybody); expected one of contacts who declined communications")
        return name
    raise SegmentationError(f"opt_out_segmentation = {segmentation_id}: RD Station has no "
                            "segmentation with this id (see Contatos > Segmentações)")


def members(api: RDStationApi, segmentation_id: int, page_size: int = PAGE) -> list[str]:
    """Lower-cased e-mails of every contact in the segmentation, page by page."""
    found: list[str] = []
    page = 1
    while True:
        try:
            answer: Any = api.call("GET", f"platform/segmentations/{segmentation_id}/contacts"
                                          f"?page={page}&page_size={page_size}") or {}
        except HttpError as error:
            if error.status == 404:
                raise SegmentationError(f"opt_out_segmentation = {segmentation_id}: RD Station "
                                        "has no segmentation with this id") from None
            raise
        rows = answer.get("contacts", []) if isinstance(answer, dict) else []
        found += [str(row["email"]).strip().lower() for row in rows if row.get("email")]
        if len(rows) < page_size:
            return found
        page += 1


def read_opt_outs(api: RDStationApi, segmentation_id: int,
                  page_size: int = PAGE) -> list[RemoteConsent]:
    name = check_segmentation(api, segmentation_id)
    detail = f"in RD Station segmentation {segmentation_id} ({name})"
    return [RemoteConsent(email, "unsubscribed", None, detail)
            for email in sorted(set(members(api, segmentation_id, page_size)))]
