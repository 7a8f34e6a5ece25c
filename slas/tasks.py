"""django-q2 entry points of the SLA engine. Each is safe to run twice."""

from .sweep import sla_sweep


def sla_sweep_task() -> dict:
    """Scheduled every minute (config/schedules.py): record due warnings and breaches."""
    return sla_sweep().as_dict()
