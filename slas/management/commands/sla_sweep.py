"""Run the breach sweep once (the scheduled task runs it every minute)."""

from django.core.management.base import BaseCommand

from slas.sweep import sla_sweep


class Command(BaseCommand):
    help = "Record every SLA warning and breach that is due now (once each)."

    def handle(self, *args, **options):
        result = sla_sweep()
        self.stdout.write(f"sweep: {result.warned} warnings, {result.breached} breaches recorded")
