"""SLA repair: replay cases' timelines under the current policies and report what changes."""

from datetime import UTC, datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from cases.models import Case, Client
from slas.services import clocks_rebuild


class Command(BaseCommand):
    help = (
        "Recompute the SLA clocks of a client's cases opened since DATE; --dry-run reports without writing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--client", required=True, help="Client slug.")
        parser.add_argument(
            "--since", required=True, help="YYYY-MM-DD: cases opened on or after this date (UTC)."
        )
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--reason", default="SLA repair (sla_recompute)")

    def handle(self, *args, client: str, since: str, dry_run: bool, reason: str, **options):
        try:
            client_obj = Client.objects.get(slug=client)
        except Client.DoesNotExist as exc:
            raise CommandError(f"No client with slug {client!r}.") from exc
        try:
            start = datetime.combine(datetime.strptime(since, "%Y-%m-%d").date(), time(0), tzinfo=UTC)
        except ValueError as exc:
            raise CommandError(f"--since must be YYYY-MM-DD, not {since!r}.") from exc
        case_ids = list(
            Case.objects.filter(client=client_obj, opened_at__gte=start)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        diffs = clocks_rebuild(case_ids=case_ids, now=timezone.now(), reason=reason, dry_run=dry_run)
        for diff in diffs:
            change = "created" if diff.created else "removed" if diff.removed else "changed"
            breach = " breach gained" if diff.breach_gained else " breach lost" if diff.breach_lost else ""
            self.stdout.write(
                f"case {diff.case_id} {diff.metric}#{diff.cycle} {change}: due {_fmt(diff.old_due_at)} -> "
                f"{_fmt(diff.new_due_at)}{breach}"
            )
        gained = sum(d.breach_gained for d in diffs)
        lost = sum(d.breach_lost for d in diffs)
        mode = "dry run, nothing written" if dry_run else "written"
        self.stdout.write(
            f"{len(case_ids)} cases replayed; {len(diffs)} clocks changed; {gained} breaches gained, "
            f"{lost} lost ({mode})."
        )


def _fmt(value):
    return value.isoformat() if value else "-"
