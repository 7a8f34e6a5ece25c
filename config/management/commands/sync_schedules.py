"""Make django-q2's schedules match `config.schedules.SCHEDULES` (run after migrate)."""

from django.core.management.base import BaseCommand
from django.db import transaction
from django_q.models import Schedule

from config.schedules import PREFIX, SCHEDULES, ExistingSchedule, plan_sync


class Command(BaseCommand):
    help = "Create, update or delete the schedules declared in config/schedules.py."

    def handle(self, *args, **options):
        existing = [
            ExistingSchedule(
                name=row.name, func=row.func, minutes=row.minutes, schedule_type=row.schedule_type
            )
            for row in Schedule.objects.filter(name__startswith=PREFIX)
        ]
        plan = plan_sync(SCHEDULES, existing)
        with transaction.atomic():
            for schedule in (*plan.create, *plan.update):
                Schedule.objects.update_or_create(
                    name=schedule.full_name,
                    defaults={
                        "func": schedule.func,
                        "schedule_type": Schedule.MINUTES,
                        "minutes": schedule.minutes,
                        "repeats": -1,
                        "intended_date_kwarg": None,
                    },
                )
            Schedule.objects.filter(name__in=plan.delete).delete()
        self.stdout.write(
            f"schedules: {len(plan.create)} created, {len(plan.update)} updated, {len(plan.delete)} deleted"
        )
