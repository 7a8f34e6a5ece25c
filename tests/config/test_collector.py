"""config.collector: a WSGI worker freezes what start-up loaded, then what its first requests
loaded, and collects the young generation less often."""

from __future__ import annotations

import gc

import pytest
from django.core.signals import request_finished

from config.collector import FREEZE_AFTER_REQUESTS, collector_tune


@pytest.fixture
def collector():
    thresholds = gc.get_threshold()
    tuned = []
    yield tuned
    for freezer in tuned:
        request_finished.disconnect(freezer)
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_zero_leaves_the_collector_as_it_is(collector):
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    assert collector_tune(0) is None
    assert gc.get_threshold() == thresholds and gc.get_freeze_count() == frozen


def test_a_worker_freezes_again_after_its_first_requests_then_stops_counting(client, collector):
    freezer = collector_tune(12_345)
    collector.append(freezer)
    assert gc.get_threshold()[0] == 12_345
    frozen_after = {}
    for served in range(1, max(FREEZE_AFTER_REQUESTS) + 2):
        before = gc.get_freeze_count()
        client.get("/health/")
        frozen_after[served] = gc.get_freeze_count() > before
    assert [n for n, grew in frozen_after.items() if grew] == list(FREEZE_AFTER_REQUESTS)
    assert freezer.served == max(FREEZE_AFTER_REQUESTS)  # disconnected: the 101st was not counted
