"""One error body for every failure of the API: `{"detail": <sentence>, "errors": {field: [..]}}`.

Services raise HandoverError (400), NotFoundError (404) and ConflictError (409) with the
field at fault; DRF's own errors (401, 405, 415, malformed JSON) get the same shape.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.utils import json
from rest_framework.views import exception_handler as drf_exception_handler

from tasks_app import services


class BadRequest(exceptions.APIException):
    """A request the API itself refuses before any service sees it."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, detail: str, errors: dict[str, list[str]] | None = None):
        super().__init__(detail)
        self.errors = errors or {}


def error_body(detail: str, errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"detail": detail, "errors": errors or {}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RequestDataTooBig):  # DRF reads request.body, which Django caps
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            error_body(f"the request body is larger than {limit} bytes"),
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, services.HandoverError):
        code = (
            status.HTTP_404_NOT_FOUND
            if isinstance(exc, services.NotFoundError)
            else status.HTTP_409_CONFLICT
            if isinstance(exc, services.ConflictError)
            else status.HTTP_400_BAD_REQUEST
        )
        message = str(exc)
        return Response(error_body(message, {exc.field: [message]} if exc.field else {}), code)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real server error: Django's 500
    if isinstance(exc, BadRequest):
        response.data = error_body(str(exc.detail), exc.errors)
    elif isinstance(exc, exceptions.ValidationError):
        response.data = _from_validation(exc.detail)
    else:
        detail = response.data.get("detail") if isinstance(response.data, dict) else None
        response.data = error_body(str(detail or exc))
    return response


def _from_validation(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        errors = {
            str(k): [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in detail.items()
        }
        first = next(iter(errors.items()), None)
        sentence = f"{first[0]}: {first[1][0]}" if first and first[1] else "invalid request"
        return error_body(sentence, errors)
    messages = [str(m) for m in (detail if isinstance(detail, list) else [detail])]
    return error_body(messages[0] if messages else "invalid request")


class JSONObjectParser(JSONParser):
    """DRF's strict JSON parser, plus what keeps odd bodies from becoming 500s: nesting too
    deep for the decoder, and lone surrogates, which no UTF-8 file or database column takes."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        raw = stream.read()
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.loads(raw.decode(encoding))
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except RecursionError as exc:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from exc
        except ValueError as exc:  # includes UnicodeDecodeError and UnicodeEncodeError
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
        return data


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: a URL under /api/ that matches no route gets the API's error body."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(f"no API endpoint at {request.path}"), status=404)
    return defaults.page_not_found(request, exception)
