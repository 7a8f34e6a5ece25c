"""OpenAPI schema pieces: the one error component (`Problem`, application/problem+json) declared
on every operation for every error status it can return, the API-key security scheme, and the
request headers (`Idempotency-Key`, `If-Match`, `If-None-Match`)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

PROBLEM_MEDIA_TYPE = "application/problem+json"
UUID_PATH_PARAMETERS = ("id", "case_id")

ERROR_DESCRIPTIONS = {
    400: "Invalid input: `errors` names each field (and bad filter, cursor or page size).",
    401: "No valid credentials: send `Authorization: Bearer <API key>`.",
    403: "Authenticated, but this key's scope or this user's role does not allow it.",
    404: "No such resource among the caller's clients.",
    406: "The `Accept` header asks for a format the API cannot produce.",
    409: "Conflict: the request clashes with the current state.",
    412: "`If-Match` does not match the case's current version: nothing was changed.",
    413: "The request body is over the size limit.",
    415: "Unsupported `Content-Type`: send application/json.",
    422: "This `Idempotency-Key` was already used with a different request.",
    429: "Rate limit reached: retry after `Retry-After` seconds.",
    500: "Server error.",
}

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (e.g. a UUID). The same key and request within 24 h returns "
    "the first response again, without a new effect. Per client.",
)
IF_MATCH_PARAMETER = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="The case's ETag (or version) you read: the change is refused with 412 if the case "
    "changed since.",
)
IF_NONE_MATCH_PARAMETER = OpenApiParameter(
    "If-None-Match",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="The ETag you hold: 304 with no body when it is still current.",
)


class ProblemSerializer(serializers.Serializer):
    """The error envelope (RFC 9457 problem details) every error response uses."""

    type = serializers.CharField(help_text="A stable URI naming the kind of error.")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Messages per field (`items[3].priority` for bulk items).",
    )

    class Meta:
        ref_name = "Problem"


class AccordAutoSchema(AutoSchema):
    """AutoSchema that documents the error envelope on every operation."""

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method == "POST":
            parameters.append(IDEMPOTENCY_PARAMETER)
        return parameters

    def _resolve_path_parameters(self, variables):
        parameters = super()._resolve_path_parameters(variables)
        for parameter in parameters:
            if parameter["name"] in UUID_PATH_PARAMETERS:  # public ids, never integer keys
                parameter["schema"] = {"type": "string", "format": "uuid"}
        return parameters

    def _error_codes(self) -> list[int]:
        codes = [400, 401, 403, 406, 429, 500]
        if "{" in self.path:
            codes.append(404)
        if self.method in ("POST", "PUT", "PATCH"):
            codes += [409, 413, 415]
        if self.method == "POST":
            codes.append(422)
        action = getattr(self.view, "action", None)
        if action in getattr(self.view, "if_match_actions", ()):
            codes.append(412)
        return sorted(set(codes))

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if str(code) in responses:
                continue
            response = self._get_response_for_code(
                ProblemSerializer, str(code), media_types=[PROBLEM_MEDIA_TYPE], direction=direction
            )
            response["description"] = ERROR_DESCRIPTIONS[code]
            if code == 429:
                response["headers"] = {
                    "Retry-After": {
                        "schema": {"type": "integer"},
                        "description": "Seconds to wait before retrying.",
                    }
                }
            responses[str(code)] = response
        return responses


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "cases.api.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A client system's API key (created in the admin, shown once): "
            "`Authorization: Bearer acc_…`.",
        }
