"""Schemathesis over the whole schema, authenticated with a read-write key of a client that has
data: no server error, and every response (status code, content type, headers, body) as the
schema documents it. Bounded (few examples per operation) so it runs in `make test`."""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cases import services
from cases.choices import AuthorKind, Channel, Direction
from tests.api.factories import ApiKeyFactory

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture
def keep_test_connection():
    """Requests go through the real WSGI handler, whose request signals would close the test's
    database connection (and its transaction) on PostgreSQL; Django's test client does the same."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_world(db, keep_test_connection, client_a, queue_a, customer_a, policy_a):
    key = ApiKeyFactory(client=client_a, throttle_rate="none")
    case = services.case_open(
        client=client_a,
        customer=customer_a,
        queue=queue_a,
        subject="Fuzzed",
        channel=Channel.EMAIL,
        external_id="F-1",
    )
    services.interaction_append(
        case=case,
        channel=Channel.EMAIL,
        direction=Direction.INBOUND,
        author_kind=AuthorKind.CUSTOMER,
        body="hi",
    )
    return {"key": key, "case": case, "customer": customer_a}


def _point_at_real_objects(case, world) -> None:
    """Half the generated ids point at real objects, so the success paths are exercised too."""
    parameters = case.path_parameters or {}
    if "id" in parameters and hash(str(parameters["id"])) % 2:
        owner = world["customer"] if case.path.startswith("/api/v1/customers") else world["case"]
        parameters["id"] = str(owner.public_id)
    if "case_id" in parameters and hash(str(parameters["case_id"])) % 2:
        parameters["case_id"] = str(world["case"].public_id)
    if "external_id" in parameters and hash(str(parameters["external_id"])) % 2:
        parameters["external_id"] = "F-1"


def _runner(operation, mode, world, headers):
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=8,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        if mode == GenerationMode.POSITIVE:
            _point_at_real_objects(case, world)
        case.call_and_validate(headers=headers, checks=CHECKS)

    return run


def test_api_conforms_to_its_schema(fuzz_world):
    """Positive and negative examples for every operation (schemathesis' Python API; its pytest
    plugin's lazy fixtures do not run under pytest 9)."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())
    headers = {"Authorization": f"Bearer {fuzz_world['key'].raw}"}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _runner(operation, mode, fuzz_world, headers)()
            except BaseException as exc:  # collect every operation's failures (an ExceptionGroup)
                failures.append(f"{operation.label} [{mode}]: {exc}")
    assert operations >= 20
    assert not failures, "\n\n".join(failures)
