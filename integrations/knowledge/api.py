"""Tributary's own read API of the knowledge base: what was imported, searchable, paginated."""

from __future__ import annotations

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, OpenApiTypes, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hub.permissions import IsMember
from hub.schema import ListOutput, errors
from integrations.knowledge.reads import entry_file_get, entry_get, entry_list

TAGS = ["knowledge"]


class EntryOutput(serializers.Serializer):
    id = serializers.UUIDField()
    integration_id = serializers.UUIDField()
    # Where the entry came from, for readers (members) who may not list integrations.
    integration_name = serializers.CharField(source="integration.name")
    integration_type = serializers.CharField(source="integration.type")
    external_id = serializers.CharField()
    title = serializers.CharField()
    content = serializers.CharField()
    html = serializers.CharField(allow_null=True)
    url = serializers.CharField()
    author = serializers.CharField()
    language = serializers.CharField()
    metadata = serializers.JSONField()
    source_created_at = serializers.DateTimeField(allow_null=True)
    source_updated_at = serializers.DateTimeField(allow_null=True)
    deleted_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class EntryFileOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    url = serializers.SerializerMethodField(help_text="Where a member downloads the file (this API).")

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, file) -> str:
        path = reverse("knowledge-entry-file", kwargs={"entry_id": file.entry_id, "file_id": file.id})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class EntryDetailOutput(EntryOutput):
    files = EntryFileOutput(many=True, source="files.all")


class EntryPageOutput(ListOutput):
    """One page of CursorPagination's answer."""

    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = EntryOutput(many=True)


class EntryFilterInput(serializers.Serializer):
    integration = serializers.UUIDField(required=False)
    q = serializers.CharField(required=False, default="", allow_blank=True, max_length=500)
    include_deleted = serializers.BooleanField(required=False, default=False)


class EntryPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class EntryListApi(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        parameters=[
            OpenApiParameter("integration", OpenApiTypes.UUID, description="Only entries of this integration"),
            OpenApiParameter("q", str, description="Text search in title and content"),
            OpenApiParameter("include_deleted", bool, description="Include tombstones"),
            OpenApiParameter("cursor", str),
            OpenApiParameter("page_size", int),
        ],
        responses={200: EntryPageOutput, **errors(404)},  # 404: a cursor that is not ours
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        filters = EntryFilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        entries = entry_list(
            organisation=request.auth.organisation,
            integration_id=filters.validated_data.get("integration"),
            query=filters.validated_data["q"].strip(),
            include_deleted=filters.validated_data["include_deleted"],
        )
        paginator = EntryPagination()
        page = paginator.paginate_queryset(entries, request, view=self)
        return paginator.get_paginated_response(EntryOutput(page, many=True).data)


class EntryDetailApi(APIView):
    permission_classes = [IsMember]

    @extend_schema(responses={200: EntryDetailOutput}, tags=TAGS)
    def get(self, request: Request, entry_id) -> Response:
        entry = entry_get(organisation=request.auth.organisation, entry_id=entry_id)
        return Response(EntryDetailOutput(entry, context={"request": request}).data)


class EntryFileDownloadApi(APIView):
    """The stored bytes of one of an entry's files, as an attachment (never rendered by the browser)."""

    permission_classes = [IsMember]

    def perform_content_negotiation(self, request: Request, force: bool = False):
        # The file goes out as it was stored, whatever the client accepts; an error is the JSON envelope.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(
        responses={
            (200, "*/*"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file's bytes, with its stored content type, as an attachment."
            )
        },
        tags=TAGS,
    )
    def get(self, request: Request, entry_id, file_id) -> FileResponse:
        stored = entry_file_get(organisation=request.auth.organisation, entry_id=entry_id, file_id=file_id)
        response = FileResponse(
            stored.file.open("rb"), as_attachment=True, filename=stored.name, content_type=stored.content_type
        )
        response["Content-Length"] = str(stored.size)
        response["X-Content-Type-Options"] = "nosniff"
        # Even if something rendered it, a stored HTML or SVG file could run no script of ours.
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response
