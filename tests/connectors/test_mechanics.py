"""The shared connector mechanics on their own: bodies, errors, waits, cursors, links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from clientela.http import (
    ApiClient,
    BadRecord,
    ConnectorError,
    HttpError,
    call_limit_header,
    error_detail,
    leaky_bucket_headers,
    make_session,
    retry_after_seconds,
    salvage_array,
    scrub,
    split_array,
)
from clientela.http.jsonbody import UnsplittableBody
from clientela.sources.toolkit import StreamCursor, parse_time


def response(headers: dict[str, str], status: int = 200) -> requests.Response:
    made = requests.Response()
    made.status_code = status
    made.headers.update(headers)
    return made


def test_one_bad_element_does_not_cost_the_page() -> None:
    text = '[{"id": 1, "s": "a,]}"}, {"id": 2, "total": 12,50}, {"id": 3, "n": "x\ty"}, {"id": 4}]'
    items = salvage_array(text)
    assert items[0] == {"id": 1, "s": "a,]}"} and items[3] == {"id": 4}
    assert isinstance(items[1], BadRecord) and items[1].key_hint == "2"
    assert isinstance(items[2], BadRecord) and "control character" in items[2].error
    assert split_array("[]") == [] and split_array(' [ {"a": [1, 2]} ] ') == ['{"a": [1, 2]}']


@pytest.mark.parametrize("text", ['[{"id": 1}, {"id": 2', "<html>oops</html>", '[{"a": 1}] x'])
def test_a_cut_or_foreign_body_cannot_be_split(text: str) -> None:
    with pytest.raises(UnsplittableBody):
        split_array(text)


def test_error_bodies_of_each_platform_are_read() -> None:
    woo = {"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.",
           "data": {"status": 401}}
    assert error_detail(woo) == ("woocommerce_rest_cannot_view",
                                 "Sorry, you cannot list resources.")
    nuvem = {"code": 404, "message": "Not Found", "description": "Last page is 3"}
    assert error_detail(nuvem) == ("404", "Not Found; Last page is 3")
    assert error_detail({"error": "Problems parsing JSON"}) == (None, "Problems parsing JSON")
    assert error_detail({"errors": [{"field": None, "message": "too many requests"}]}) == \
        (None, "too many requests")
    assert error_detail("<html>") == (None, None)


def test_messages_hide_secrets_and_mask_people() -> None:
    text = scrub("token abcd1234secret rejected for maria.silva@example.com", ["abcd1234secret"])
    assert "abcd1234secret" not in text and "maria.silva" not in text and "m***@e***.com" in text
    error = HttpError("Nuvemshop", "GET", "/v1/1/orders", 401, "Invalid access token",
                      code="401")
    assert str(error) == "Nuvemshop: GET /v1/1/orders answered 401 [401]: Invalid access token"
    assert not error.transient and HttpError("X", "GET", "/", 503).transient
    assert HttpError("X", "GET", "/", None, "ConnectionError", transient=True).transient


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after_seconds(response({"Retry-After": "3"})) == 3.0
    assert retry_after_seconds(response({"Retry-After": "0.25"})) == 0.25
    assert retry_after_seconds(response({})) is None
    later = (datetime.now(UTC) + timedelta(seconds=120)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 100 < (retry_after_seconds(response({"Retry-After": later})) or 0) <= 120


def test_bucket_headers_give_the_time_for_one_slot() -> None:
    read = leaky_bucket_headers("X-Rate-Limit-Limit", "X-Rate-Limit-Remaining",
                                "X-Rate-Limit-Reset")
    reading = read(response({"X-Rate-Limit-Limit": "40", "X-Rate-Limit-Remaining": "0",
                             "X-Rate-Limit-Reset": "20000"}))
    assert reading is not None and reading.remaining == 0 and reading.slot_seconds == 0.5
    assert read(response({})) is None
    shopify = call_limit_header("X-Shopify-Shop-Api-Call-Limit", leak_per_second=2)(
        response({"X-Shopify-Shop-Api-Call-Limit": "39/40"}))
    assert shopify is not None and (shopify.remaining, shopify.slot_seconds) == (1, 0.5)


def test_a_link_to_another_host_is_never_followed() -> None:
    client = ApiClient("Shop", "https://api.example.com/v1/1", make_session())
    assert client.url("orders") == "https://api.example.com/v1/1/orders"
    assert client.url("https://api.example.com/v1/1/orders?page=2").endswith("page=2")
    with pytest.raises(ConnectorError, match="another host"):
        client.url("https://evil.example.net/v1/1/orders?page=2")


def test_times_with_compact_offsets_and_without_offsets() -> None:
    assert parse_time("2013-04-07T09:12:57+0000") == datetime(2013, 4, 7, 9, 12, 57, tzinfo=UTC)
    assert parse_time("2024-01-02T03:04:05-0300") == datetime(2024, 1, 2, 6, 4, 5, tzinfo=UTC)
    assert parse_time("2024-01-02T03:04:05") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_time("2024-01-02T03:04:05Z") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_time("yesterday") is None and parse_time(None) is None


def test_a_window_resumes_where_it_stopped_and_closes_on_the_server_clock() -> None:
    server = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    cursor = StreamCursor({}, incremental=True)
    assert cursor.window().since is None
    cursor.observe(server)
    assert cursor.dedup.fresh("1", {"id": 1}, server - timedelta(minutes=1))
    middle: dict[str, Any] = cursor.after_page(2)
    assert middle["window"]["resume"] == 2 and middle["cursor"] is None

    again = StreamCursor(middle, incremental=True)
    assert again.window().resume == 2
    assert not again.dedup.fresh("1", {"id": 1}, server - timedelta(minutes=1))
    done = again.after_page(None)
    assert done["cursor"] == server.isoformat() and done["window"] is None

    following = StreamCursor(done, incremental=True)
    assert following.window().since == server - timedelta(minutes=10)
    assert not following.dedup.fresh("1", {"id": 1}, None)  # the same record, re-read
    assert following.dedup.fresh("1", {"id": 1, "status": "refunded"}, None)  # changed


def test_only_changes_within_the_lookback_are_digested_and_saved() -> None:
    server = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    cursor = StreamCursor({}, incremental=True)
    cursor.window()
    cursor.observe(server)
    old, recent = server - timedelta(days=30), server - timedelta(minutes=2)
    assert cursor.dedup.fresh("1", {"id": 1}, old)
    assert cursor.dedup.fresh("1", {"id": 1}, old)  # undigested: a second copy lands again
    assert cursor.dedup.fresh("2", {"id": 2}, recent)
    assert not cursor.dedup.fresh("2", {"id": 2}, recent)
    assert list(cursor.after_page(None)["recent"]) == ["2"]


def test_a_full_refresh_stream_leaves_no_cursor() -> None:
    cursor = StreamCursor({"cursor": "2025-01-01T00:00:00+00:00"}, incremental=False)
    assert cursor.window().since is None
    assert cursor.after_page(3) == {"window": {"since": None, "until": cursor.after_page(3)
                                               ["window"]["until"], "resume": 3}}
    assert cursor.after_page(None) == {}


def test_a_200_that_is_really_throttled_is_retried_through_the_check(
        woo: Any, sleeps: Any) -> None:
    client = ApiClient("Shop", woo.url, make_session(auth=(woo.key, woo.secret)))
    client.retry = type(client.retry)(sleep=sleeps)
    calls = {"n": 0}

    def check(body: Any, answer: requests.Response) -> None:
        calls["n"] += 1
        if calls["n"] < 3:
            raise HttpError("Shop", "POST", "/graphql", 429, "THROTTLED", retry_after=1.5)

    body, _ = client.get_json("customers", {"per_page": 1}, check=check)
    assert len(body) == 1 and calls["n"] == 3 and sleeps.waits == [1.5, 1.5]
