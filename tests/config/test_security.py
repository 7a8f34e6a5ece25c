"""Production settings pass Django's deploy check; security headers and lockout are live."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "k7#Qw9!vT2@xL5$pZ8^rN3&yH6*bJ1(mF4)sD0_gC7+eA2=uW9-oK5",
    "ALLOWED_HOSTS": "accord.example.com",
    "DATABASE_URL": "sqlite:////tmp/accord-deploy-check.sqlite3",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_passes_at_warning_level():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_refuses_to_start_without_secret_key_when_debug_is_off():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


@pytest.mark.django_db
def test_security_headers_are_sent(client):
    response = client.get(reverse("admin:login"), secure=True)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp


@pytest.mark.django_db
def test_session_and_csrf_cookies_are_secure(client):
    UserFactory(username="ops", password="correct-horse-battery")
    login = client.get(reverse("admin:login"), secure=True)
    assert login.cookies["csrftoken"]["secure"] is True
    response = client.post(
        reverse("admin:login"),
        {"username": "ops", "password": "correct-horse-battery", "next": "/admin/"},
        secure=True,
    )
    assert response.status_code == 302
    assert response.cookies["sessionid"]["secure"] is True
    assert response.cookies["sessionid"]["httponly"] is True


@pytest.mark.django_db
def test_login_locks_out_after_repeated_failures(client, settings):
    UserFactory(username="target", password="the-right-password")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = client.post(
            reverse("admin:login"), {"username": "target", "password": "guess"}, secure=True
        )
        assert response.status_code in (200, 429)
    locked = client.post(
        reverse("admin:login"), {"username": "target", "password": "the-right-password"}, secure=True
    )
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_plain_http_is_redirected_to_https_in_production():
    result = _manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.SECURE_SSL_REDIRECT)",
        env=PRODUCTION_ENV,
    )
    assert result.stdout.strip().endswith("True"), result.stderr


def test_an_empty_database_url_means_the_default_database():
    env = {**PRODUCTION_ENV, "DATABASE_URL": ""}
    result = _manage("shell", "-c", "from django.db import connection; print(connection.vendor)", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "sqlite"
