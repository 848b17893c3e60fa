"""Knowledge base routes under /api/v1/knowledge/."""

from django.urls import path

from integrations.knowledge.api import EntryDetailApi, EntryFileDownloadApi, EntryListApi

urlpatterns = [
    path("entries", EntryListApi.as_view(), name="knowledge-entries"),
    path("entries/<uuid:entry_id>", EntryDetailApi.as_view(), name="knowledge-entry"),
    path("entries/<uuid:entry_id>/files/<uuid:file_id>", EntryFileDownloadApi.as_view(), name="knowledge-entry-file"),
]
