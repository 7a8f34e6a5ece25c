"""WSGI entry point (gunicorn config.wsgi)."""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
application = get_wsgi_application()

from config.collector import collector_tune  # noqa: E402 - needs the settings loaded above

collector_tune(settings.GC_GEN0_THRESHOLD)
