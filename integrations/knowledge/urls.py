"""Knowledge base routes under /api/v1/knowledge/."""

from django.urls import path

from integrations.knowledge.api import EntryDetailApi, EntryListApi

urlpatterns = [
    path("entries", EntryListApi.as_view(), name="knowledge-entries"),
    path("entries/<uuid:entry_id>", EntryDetailApi.as_view(), name="knowledge-entry"),
]
