"""Erlang C against published reference values.

Reference: the textbook example used by call-centre planning guides (e.g. Call Centre Helper,
"Erlang C formula - made simple"): 100 calls in 30 minutes, 3-minute handle time = 10 Erlangs;
with 14 agents the probability of waiting is 17.4 % and 88.8 % of calls are answered within
20 s; 13 agents answer 79.6 %, so 14 agents are needed for 80/20.
"""

from __future__ import annotations

import pytest

from reporting.erlang import agents_needed, erlang_b, erlang_c, service_level, traffic


def test_the_reference_example():
    load = traffic(100, 180, 1800)
    assert load == 10
    assert erlang_c(14, load) == pytest.approx(0.1741, abs=1e-4)
    assert service_level(14, load, 180, 20) == pytest.approx(0.8884, abs=1e-4)
    assert service_level(13, load, 180, 20) == pytest.approx(0.7956, abs=1e-4)
    assert (
        agents_needed(arrivals=100, aht_seconds=180, interval_seconds=1800, threshold_seconds=20, target=0.8)
        == 14
    )


def test_erlang_b_table_value_and_stability():
    assert erlang_b(10, 5) == pytest.approx(0.01838, abs=1e-5)  # Erlang B table: 5 E on 10 lines
    assert 0 < erlang_c(600, 550) < 1  # no overflow with hundreds of agents


def test_an_overloaded_queue_never_meets_the_target_and_no_traffic_needs_nobody():
    assert erlang_c(10, 10) == 1 and service_level(9, 10, 180, 20) == 0
    assert (
        agents_needed(arrivals=0, aht_seconds=180, interval_seconds=1800, threshold_seconds=20, target=0.8)
        == 0
    )
    with pytest.raises(ValueError):
        agents_needed(arrivals=10, aht_seconds=180, interval_seconds=1800, threshold_seconds=20, target=80)
