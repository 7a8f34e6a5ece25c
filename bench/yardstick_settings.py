"""Accord's settings with the yardstick's URLconf (bench/yardstick_app.py) as the only one."""

from config.settings.base import *  # noqa: F403

ROOT_URLCONF = "yardstick_app"
