"""Campaigns move purchases the process made; they never add one nor move the last one."""

from __future__ import annotations

import numpy as np

from clientela.demo.campaigns import ATTRIBUTION_DAYS, Audience, pull_forward
from clientela.demo.purchases import one_a_day


def _audience(customer: list[int], time: list[float], extra: list[float],
              campaign: list[int] | None = None) -> Audience:
    n = len(customer)
    return Audience(
        campaign=np.array(campaign if campaign is not None else [0] * n, dtype=np.int64),
        customer=np.array(customer, dtype=np.int64),
        time=np.array(time, dtype=np.float64),
        control=np.zeros(n, dtype=bool),
        responds=np.ones(n, dtype=bool),
        extra_time=np.array(extra, dtype=np.float64),
    )


def test_the_next_purchase_comes_forward_between_the_same_neighbours() -> None:
    buyer = np.array([0, 0, 0, 1, 1], dtype=np.int64)
    time = np.array([5.0, 40.0, 90.0, 20.0, 60.0])
    audience = _audience([0, 1], [10.0, 30.0], [12.5, 33.0])
    moved, row = pull_forward(audience, buyer, time, 2, np.array([0, 1]))
    # buyer 0's purchase at day 40 comes to 12.5; buyer 1's only later purchase is the last
    assert moved.tolist() == [1] and row.tolist() == [0]
    assert time.tolist() == [5.0, 12.5, 90.0, 20.0, 60.0]


def test_a_purchase_already_due_in_the_window_is_left_alone() -> None:
    buyer = np.zeros(3, dtype=np.int64)
    time = np.array([5.0, 10.0 + ATTRIBUTION_DAYS, 90.0])
    moved, _ = pull_forward(_audience([0], [10.0], [11.0]), buyer, time.copy(), 1,
                            np.array([0]))
    assert moved.size == 0


def test_later_campaigns_see_where_earlier_ones_put_a_purchase() -> None:
    buyer = np.zeros(4, dtype=np.int64)
    time = np.array([5.0, 40.0, 60.0, 90.0])
    audience = _audience([0, 0], [10.0, 12.0], [11.0, 14.0], campaign=[0, 1])
    moved, row = pull_forward(audience, buyer, time, 1, np.array([0]))
    # campaign 0 takes day 40 to 11; campaign 1 then takes day 60 (not 11 again) to 14
    assert moved.tolist() == [1, 2] and row.tolist() == [0, 1]
    assert time.tolist() == [5.0, 11.0, 14.0, 90.0]


def test_one_a_day_moves_same_day_purchases_to_the_next_free_day() -> None:
    customer = np.array([0, 0, 0, 1, 0], dtype=np.int64)
    time = np.array([3.25, 3.5, 4.75, 3.5, 9.0])
    assert one_a_day(customer, time, 20).tolist() == [3.25, 4.5, 5.75, 3.5, 9.0]


def test_one_a_day_moves_a_crowd_on_the_last_day_back() -> None:
    customer = np.zeros(3, dtype=np.int64)
    time = np.array([8.5, 9.25, 9.75])
    assert one_a_day(customer, time, 10).tolist() == [7.5, 8.25, 9.75]
