"""The OpenAPI schema: served, built without warnings, committed (no drift), errors declared on
every operation, docs served from local assets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "openapi.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return path.read_text()


def test_committed_schema_matches_the_code(generated):
    assert (ROOT / "openapi.yaml").read_text() == generated, "run bin/check-openapi --write"


def test_every_operation_declares_the_error_envelope(generated):
    schema = yaml.safe_load(generated)
    assert "Problem" in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for code in ("400", "401", "403", "429", "500"):
                content = responses[code]["content"]
                assert content == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }
            if "{" in path:
                assert "404" in responses, (path, method)
            if method == "post":
                assert {"413", "415", "422"} <= set(responses), (path, method)
                assert "Idempotency-Key" in [p["name"] for p in operation.get("parameters", [])]
            assert operation["security"] == [{"ApiKeyAuth": []}, {"cookieAuth": []}], (path, method)
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["ApiKeyAuth"]["description"],
    }


def test_no_path_exposes_an_integer_primary_key(generated):
    schema = yaml.safe_load(generated)
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "path" or parameter["name"] == "external_id":
                    continue
                if parameter["name"] == "position":  # a place in a list (attachments), no key
                    assert path.endswith("/attachments/{position}"), path
                    continue
                assert parameter["schema"] == {"type": "string", "format": "uuid"}, (path, parameter)


def test_schema_and_docs_are_served_without_a_cdn(client):
    assert client.get("/api/v1/schema/").status_code == 200
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "<script>" not in html  # the split view loads its init script as a file (CSP)
    assert client.get("/api/v1/redoc/").status_code == 200
