"""Prepare a database for running Accord: migrate, sync schedules, and in demo mode load the
demo data (when there is none) and ensure the demo users."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from cases.choices import Role
from cases.models import Case, Client, Queue

# Demo users: name -> (role, password). Superuser "admin" has every right.
DEMO_USERS = {
    "admin": (None, "accord-admin"),
    "supervisor": (Role.SUPERVISOR, "accord-supervisor"),
    "agent": (Role.AGENT, "accord-agent"),
    "governance": (Role.GOVERNANCE, "accord-governance"),
}


class Command(BaseCommand):
    help = "Migrate, sync schedules; with --demo also load demo data when empty and ensure demo users."

    def add_arguments(self, parser):
        parser.add_argument("--demo", action="store_true", help="Load demo data and demo users.")

    def handle(self, *args, demo: bool, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("sync_schedules")
        if not demo:
            return
        if not settings.DEMO_MODE:
            self.stderr.write("Refusing demo set-up: ACCORD_DEMO is not on.")
            return
        if not Case.objects.exists():
            self.stdout.write("Loading demo data (first run only)...")
            call_command("seed_demo")
        self._ensure_users()
        self._list_connectors()

    def _list_connectors(self):
        from connectors.demo import demo_connectors

        connectors = demo_connectors(list(Client.objects.all()))
        if not connectors:
            return
        self.stdout.write(
            "Demo connectors (demo mode only): POST /api/v1/connectors/<slug>/events, signed with the "
            "secret (README, Connectors):"
        )
        for connector in connectors:
            self.stdout.write(f"  {connector.slug:<22} {connector.signing_secret}")

    @transaction.atomic
    def _ensure_users(self):
        user_model = get_user_model()
        clients = list(Client.objects.all())
        self.stdout.write("Demo users (demo mode only):")
        for username, (role, password) in DEMO_USERS.items():
            user, _ = user_model.objects.get_or_create(
                username=username, defaults={"email": f"{username}@demo.local"}
            )
            user.is_staff = True
            user.is_superuser = role is None
            user.set_password(password)
            user.save()
            if role is not None:
                user.groups.set([Group.objects.get(name=role)])
                for client in clients:
                    client.staff.add(user)
                if role in (Role.AGENT, Role.SUPERVISOR):  # their "My work" and supervisor pages
                    for queue in Queue.objects.all():
                        queue.agents.add(user)
                        if role == Role.SUPERVISOR:
                            queue.supervisors.add(user)
            self.stdout.write(f"  {username:<11} {password:<20} {role or 'superuser'}")
