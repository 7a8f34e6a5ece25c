"""The breach sweep on PostgreSQL: 1,000,000 running clocks of which 10,000 are newly due
(breach rows, clock events and outbox rows included), then a sweep with nothing due.

    python bench/bench_sweep.py [--clocks 1000000] [--due 10000] [--rounds 3]

Each round re-arms 10,000 other clocks as newly due (the breached ones go back to running in the
future) and sweeps them; the figure is the median over the rounds, each round printed too (the
first write to a page after a checkpoint logs the whole page, so single runs vary).
"""

from __future__ import annotations

import argparse
import statistics
import time

from _setup import django_setup


def build(clocks: int, due: int) -> None:
    from django.db import connection

    from cases.models import Client
    from tests.factories import CustomerFactory, QueueFactory, SLAPolicyFactory

    for table in ("slas_breach", "slas_slawarning", "slas_clockevent", "slas_slaclock"):
        connection.cursor().execute(f"TRUNCATE {table} CASCADE")
    client = Client.objects.filter(slug="bench").first()
    if client is None:
        from tests.factories import ClientFactory

        client = ClientFactory(slug="bench", name="Bench")
        policy = SLAPolicyFactory(client=client, targets={("next_response", "normal"): 3600})
        queue = QueueFactory(client=client)
        customer = CustomerFactory(client=client)
        cases = clocks // 4
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO cases_case (public_id, client_id, customer_id, queue_id, subject, status,
                    priority,
                    origin_channel, current_channel, tier, external_id, version, opened_at, last_activity_at,
                    created_at, updated_at, reopen_count)
                SELECT gen_random_uuid(), %s, %s, %s, 'bench', 'open', 'normal', 'chat', 'chat', 1, '', 1,
                    now(), now(), now(), now(), 0
                FROM generate_series(1, %s)
                """,
                [client.pk, customer.pk, queue.pk, cases],
            )
    policy = client.sla_policies.get()
    with connection.cursor() as cursor:
        # Four next_response cycles per case; every clock running, warned already, due in the future,
        # except `due` of them whose due time has just passed.
        cursor.execute(
            """
            INSERT INTO slas_slaclock (client_id, case_id, policy_id, policy_version, calendar_id, metric,
                cycle, warning_percent, target_seconds, started_at, due_at, warn_at, warned_at,
                paused_seconds, pauses,
                outcome, updated_at)
            SELECT c.client_id, c.id, %(policy)s, 1, %(calendar)s, 'next_response', g.cycle, 80, 3600,
                now() - interval '50 minutes', now() + (random() * interval '3 days') + interval '1 hour',
                now() - interval '2 minutes', now() - interval '2 minutes', 0, '[]', '', now()
            FROM cases_case c CROSS JOIN generate_series(1, 4) AS g(cycle)
            WHERE c.client_id = %(client)s
            """,
            {"policy": policy.pk, "calendar": policy.calendar_id, "client": client.pk},
        )
        cursor.execute(
            """
            UPDATE slas_slaclock SET due_at = now() - (random() * interval '50 seconds')
            WHERE id IN (SELECT id FROM slas_slaclock ORDER BY random() LIMIT %s)
            """,
            [due],
        )
    # Steady state: autovacuum has visited the table (visibility map, hint bits) as it would in production.
    connection.cursor().execute("VACUUM ANALYZE slas_slaclock")


def rearm(due: int) -> None:
    """Between rounds: the breached clocks run again (due in the future, rows of the last round
    removed) and `due` other clocks become newly due."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE slas_breach, slas_slawarning, slas_clockevent CASCADE")
        cursor.execute(
            """
            UPDATE slas_slaclock SET breached_at = NULL,
                due_at = now() + interval '1 hour' + random() * interval '3 days'
            WHERE breached_at IS NOT NULL
            """
        )
        cursor.execute(
            """
            UPDATE slas_slaclock SET due_at = now() - (random() * interval '50 seconds')
            WHERE id IN (SELECT id FROM slas_slaclock ORDER BY random() LIMIT %s)
            """,
            [due],
        )
        cursor.execute("VACUUM ANALYZE slas_slaclock")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clocks", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=None, help="Sweep batch size (ACCORD_SWEEP_BATCH_SIZE).")
    parser.add_argument("--rounds", type=int, default=3, help="Sweeps of --due newly due clocks (median).")
    args = parser.parse_args()
    django_setup("accord_bench_sweep")
    from django.utils import timezone

    from slas.models import Breach, ClockEvent, SLAClock
    from slas.sweep import sla_sweep

    started = time.perf_counter()
    build(args.clocks, args.due)
    running = SLAClock.objects.filter(stopped_at__isnull=True).count()
    print(f"built {running:,} running clocks in {time.perf_counter() - started:.1f} s")

    rounds = []
    for round_ in range(args.rounds):
        if round_:
            rearm(args.due)
        started = time.perf_counter()
        result = sla_sweep(now=timezone.now(), batch_size=args.batch)
        rounds.append(time.perf_counter() - started)
        assert result.breached == args.due, result
    each = ", ".join(f"{t * 1000:.0f}" for t in rounds)
    print(
        f"sweep with {args.due:,} newly due among {running:,}: "
        f"median {statistics.median(rounds) * 1000:.0f} ms over {args.rounds} rounds ({each} ms; each round "
        f"{result.breached:,} breaches, {Breach.objects.count():,} breach rows, "
        f"{ClockEvent.objects.filter(kind='breached').count():,} clock events)"
    )
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        result = sla_sweep(now=timezone.now())
        timings.append(time.perf_counter() - started)
        assert result.breached == 0
    print(
        f"sweep with nothing newly due among {running:,}: median {statistics.median(timings) * 1000:.1f} ms, "
        f"max {max(timings) * 1000:.1f} ms over 20 runs"
    )


if __name__ == "__main__":
    main()
