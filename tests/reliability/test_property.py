"""Property: whatever happens in the store and at the destinations, after any run of pushes
(Mailchimp first, then SendGrid) nobody without a current opt-in is subscribed (or tagged) in
Mailchimp or in a SendGrid list: an unsubscribe made at SendGrid alone is read before
Mailchimp's push (consent first), not only by SendGrid's own push after it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from destinations.fakes.mailchimp import FakeMailchimp
from destinations.fakes.sendgrid import FakeSendGrid
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from clientela.store import Store

from .support import (
    build_store,
    consenting,
    customers,
    email,
    opt,
    push_mailchimp,
    push_sendgrid,
    sendgrid_destination,
    subscribed_without_consent,
)

N = 6
OPS = st.lists(st.tuples(st.sampled_from(["opt_in", "opt_out", "unsubscribe_there",
                                          "unsubscribe_at_sendgrid", "delete_there",
                                          "new_address", "push"]),
                         st.integers(0, N - 1)), min_size=1, max_size=7)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("property") / "template.duckdb"
    build_store(path, N, {1: "unknown", 3: "unsubscribed", 4: "unknown"})
    return path


def check(path: Path, mailchimp: FakeMailchimp, sendgrid: FakeSendGrid) -> None:
    assert subscribed_without_consent(mailchimp, path) == set()
    allowed = consenting(path)
    tagged = {m.email for m in mailchimp.members.values() if mailchimp.tags_of(m.email)}
    assert tagged <= allowed
    listed = {c.email for c in sendgrid.contacts.values() if sendgrid.lists_of(c.email)}
    assert listed <= allowed


@pytest.mark.slow
@settings(max_examples=8, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(ops=[("opt_in", 0), ("new_address", 0), ("opt_in", 0)], already_there={0})
@example(ops=[("delete_there", 0), ("delete_there", 4), ("opt_in", 2), ("new_address", 3),
              ("unsubscribe_there", 2), ("new_address", 1), ("opt_in", 3)],
         already_there={0, 2, 3})
@example(ops=[("push", 0), ("unsubscribe_at_sendgrid", 0)], already_there=set())
@given(ops=OPS, already_there=st.sets(st.integers(0, N - 1), max_size=3))
def test_nobody_without_a_current_opt_in_is_ever_subscribed(
        template: Path, tmp_path_factory: pytest.TempPathFactory,
        ops: list[tuple[str, int]], already_there: set[int]) -> None:
    path = tmp_path_factory.mktemp("run") / "store.duckdb"
    shutil.copy(template, path)
    addresses = {i: email(i) for i in range(N)}
    with FakeMailchimp() as mailchimp, FakeSendGrid() as sendgrid:
        for i in already_there:  # subscribed there before clientela ever pushed
            mailchimp.add_member(email(i), "subscribed")
        for op, i in [*ops, ("push", 0)]:
            address = addresses[i]
            if op == "opt_in":
                opt(path, i, "opted_in", address=address)
            elif op == "opt_out":
                opt(path, i, "opted_out", address=address)
            elif op == "unsubscribe_there" and mailchimp.member(address) is not None:
                mailchimp.unsubscribe(address)
                sendgrid.global_unsubscribes.add(address)
            elif op == "unsubscribe_at_sendgrid":
                sendgrid.global_unsubscribes.add(address)
            elif op == "delete_there":
                mailchimp.delete_permanently(address)
            elif op == "new_address":
                addresses[i] = f"c{i}.{len(ops)}.{address.split('@')[0][-3:]}x@example.com"
                with Store(path) as store:
                    store.upsert([customers(N)[i].model_copy(update={"email": addresses[i]})])
            elif op == "push":
                push_mailchimp(path, mailchimp, others={"sendgrid": lambda: sendgrid_destination(
                    sendgrid.url, sendgrid.api_key)})
                push_sendgrid(path, sendgrid)
                check(path, mailchimp, sendgrid)
