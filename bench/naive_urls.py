"""The app's URLs plus a naive baseline receiver: check an HMAC, insert one row, nothing else."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from hub.urls import handler404, handler500
from hub.urls import urlpatterns as hub_urlpatterns
from integrations.models import KnowledgeEntry

__all__ = ["urlpatterns", "handler404", "handler500"]


@csrf_exempt
def naive_receive(request: HttpRequest, integration_id: uuid.UUID) -> JsonResponse:
    """The least a signed receiver can do: what the real endpoint is measured against."""
    raw = request.body
    expected = "sha256=" + hmac.new(settings.BENCH_NAIVE_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("X-Knora-Signature", "")):
        return JsonResponse({"error": {"code": "FORBIDDEN", "message": "Bad signature."}}, status=403)
    payload = json.loads(raw)
    entry = KnowledgeEntry.objects.create(
        organisation_id=settings.BENCH_ORG_ID,
        integration_id=integration_id,
        external_id="naive:" + uuid.uuid4().hex,
        title=payload["text"][:200],
        content=payload["text"],
    )
    return JsonResponse({"entry_id": str(entry.id)}, status=201)


urlpatterns = [
    path("bench/naive/<uuid:integration_id>/receive", naive_receive, name="bench-naive-receive"),
    *hub_urlpatterns,
]
