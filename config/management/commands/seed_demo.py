"""Load the deterministic demo data set (see config/demo.py)."""

import time

from django.core.management.base import BaseCommand
from django.utils import timezone

from config import demo


class Command(BaseCommand):
    help = "Load demo clients, queues, customers and 90 days of cases. A second run adds nothing."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=7, help="Random seed (same seed, same data).")
        parser.add_argument(
            "--scale", type=float, default=1.0, help="Multiply customers and cases (benchmarks)."
        )

    def handle(self, *args, seed: int, scale: float, **options):
        if demo.demo_present():
            self.stdout.write("Demo data already present; nothing added.")
            return
        started = time.monotonic()
        now = timezone.now().replace(minute=0, second=0, microsecond=0)
        summary = demo.seed(seed=seed, scale=scale, now=now)
        gov = summary.governance
        self.stdout.write(
            f"Demo data: {summary.clients} clients, {summary.queues} queues, {summary.customers} customers, "
            f"{summary.identities} identities, {summary.cases} cases, {summary.interactions} interactions, "
            f"{summary.events} timeline events, {summary.surveys} surveys, {summary.clocks} SLA clocks, "
            f"{summary.connectors} connectors; "
            f"governance: {gov.tiers} escalation tiers, {gov.rules} rules, {gov.escalations} escalations, "
            f"{gov.history_reviews + gov.reviews} breach reviews, {gov.actions} corrective actions, "
            f"{gov.meetings} meetings, {gov.scorecards} scorecards; in {time.monotonic() - started:.1f} s."
        )
