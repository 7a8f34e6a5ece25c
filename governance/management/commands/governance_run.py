"""Run governance's periodic work once, now (what the schedules do): apply due SLA policy
changes, catch up rule evaluation / automatic reviews / sentiment, send action reminders.
Safe to run at any time, and twice."""

from django.core.management.base import BaseCommand

from governance import services


class Command(BaseCommand):
    help = "Apply due SLA policy changes, catch up governance work, send corrective-action reminders."

    def add_arguments(self, parser):
        parser.add_argument(
            "--only",
            choices=["changes", "catch-up", "reminders"],
            help="Run one of the three jobs only.",
        )

    def handle(self, *args, only=None, **options):
        if only in (None, "changes"):
            self.stdout.write(f"policy changes applied: {services.policy_changes_apply_due()}")
        if only in (None, "catch-up"):
            self.stdout.write(f"catch-up: {services.governance_catch_up().as_dict()}")
        if only in (None, "reminders"):
            self.stdout.write(f"reminders sent: {services.action_reminders_send()}")
