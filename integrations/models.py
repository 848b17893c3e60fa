"""Integrations: one connection of an organisation to an upstream, with sealed config and tokens."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from hub.crypto import SealedJSON, SealedModelMixin
from hub.models import Organisation


class IntegrationStatus(models.TextChoices):
    ACTIVE = "active"
    INACTIVE = "inactive"
    ERROR = "error"
    SYNCING = "syncing"


class Integration(SealedModelMixin, models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="integrations")
    type = models.CharField(max_length=50)
    name = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=IntegrationStatus.choices, default=IntegrationStatus.ACTIVE)
    # Created by the OAuth callback, waiting for POST / with pending_integration_id. A pending record
    # is invisible to every endpoint but that one, and only until `pending_until` (see docs/security/oauth.md).
    is_pending = models.BooleanField(default=False)
    pending_until = models.DateTimeField(null=True, blank=True)
    # A pending re-authorisation: finalising it moves its tokens onto this integration.
    pending_for = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    config_sealed = models.TextField(blank=True, default="", editable=False)
    credentials_sealed = models.TextField(blank=True, default="", editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_sync_at = models.DateTimeField(null=True, blank=True)
    # Where the next incremental pull starts; not secret.
    sync_checkpoint = models.JSONField(default=dict, blank=True)
    # The push direction's own state, apart from the pull's, so one direction never erases the other's.
    push_checkpoint = models.JSONField(default=dict, blank=True)
    # Ours beside Knora's fields: start a run every this many minutes (null: manual only), and, for a
    # destination, after each successful sync of one of its sources.
    sync_interval_minutes = models.PositiveIntegerField(null=True, blank=True)
    run_after_sources = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    config = SealedJSON("config_sealed")
    credentials = SealedJSON("credentials_sealed")

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["organisation", "type"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"


class JobStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


ACTIVE_JOB_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING)
COUNTER_FIELDS = (
    "records_synced",
    "records_found",
    "records_imported",
    "records_skipped",
    "threads_grouped",
    "entries_created",
)


class SyncJob(models.Model):
    """One run of a connector for an integration. Seed counters stay null until it completes;
    `progress` holds the live figures while it runs."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="sync_jobs")
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="sync_jobs")
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.PENDING)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    records_synced = models.IntegerField(null=True, blank=True)
    records_found = models.IntegerField(null=True, blank=True)
    records_imported = models.IntegerField(null=True, blank=True)
    records_skipped = models.IntegerField(null=True, blank=True)
    threads_grouped = models.IntegerField(null=True, blank=True)
    entries_created = models.IntegerField(null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    # Live figures while running: counters so far and a percentage (null when unknown).
    progress = models.JSONField(default=dict, blank=True)
    # Per-record failures and upstream warnings, bounded in size (see integrations.runs.jobs).
    log = models.JSONField(default=list, blank=True)
    # Lines the upstream's signed callbacks report on this run (webhooks.job_log), kept apart from `log`,
    # which its worker rewrites from memory: the API shows both, in time order.
    callback_log = models.JSONField(default=list, blank=True)
    # The lease (see integrations.runs.jobs): each claim or take-over increments the fencing token, and a
    # worker's every write must match the token it claimed; the heartbeat says its owner is alive.
    fencing_token = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    resumes = models.PositiveSmallIntegerField(default=0)
    # The counters as they stood at the last checkpoint: a resumed run starts again from there.
    checkpoint_progress = models.JSONField(default=dict, blank=True)
    # Set while the run's slices are spread over several workers (integrations.runs.spread): the
    # figures and concurrency every part starts from, so a part the reaper sends later knows them too.
    spread = models.JSONField(null=True, blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["integration", "-created_at"])]
        constraints = [
            # One sync per integration at a time, enforced by the database too.
            models.UniqueConstraint(
                fields=["integration"],
                condition=models.Q(status__in=["pending", "running"]),
                name="one_active_sync_per_integration",
            )
        ]

    def __str__(self) -> str:
        return f"{self.integration_id} {self.status} {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def log_lines(self) -> list[dict]:
        """The run's log and its callbacks' lines, in time order (a stable sort: each keeps its own order)."""
        if not self.callback_log:
            return list(self.log or [])
        return sorted([*(self.log or []), *self.callback_log], key=lambda line: str(line.get("at") or ""))


class SliceStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    # Every slice was done and one part took the run's final step.
    CLOSED = "closed"


class SyncJobSlice(models.Model):
    """One slice of a run spread over workers (a Haiilo entity type, a Confluence space), with a lease
    of its own: each claim increments `claims`, and the part that claimed it writes only while
    `claims` still matches and its heartbeat keeps the slice from looking lost to the other parts."""

    job = models.ForeignKey(SyncJob, on_delete=models.CASCADE, related_name="slices")
    name = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=SliceStatus.choices, default=SliceStatus.PENDING)
    claims = models.PositiveIntegerField(default=0)
    # host:pid of the part that claimed it last.
    worker = models.CharField(max_length=255, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # The slice's figures now and as they stood at its last checkpoint, and its own log lines.
    progress = models.JSONField(default=dict, blank=True)
    checkpoint_progress = models.JSONField(default=dict, blank=True)
    log = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["job", "name"], name="one_row_per_slice_of_a_job")]

    def __str__(self) -> str:
        return f"{self.job_id} {self.name} {self.status}"


class KnowledgeEntry(models.Model):
    """One upstream object in the organisation's knowledge base, upserted by (integration, external_id)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No single-column indexes: the organisation index and the unique (integration, external_id)
    # constraint below lead with these columns, and every index is one more write per entry.
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="knowledge_entries", db_index=False
    )
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="entries", db_index=False)
    external_id = models.CharField(max_length=512)
    title = models.CharField(max_length=1000, blank=True, default="")
    content = models.TextField(blank=True, default="")
    html = models.TextField(null=True, blank=True)
    url = models.URLField(max_length=2000, blank=True, default="")
    author = models.CharField(max_length=255, blank=True, default="")
    language = models.CharField(max_length=20, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    source_created_at = models.DateTimeField(null=True, blank=True)
    source_updated_at = models.DateTimeField(null=True, blank=True)
    content_hash = models.CharField(max_length=64, blank=True, default="")
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["integration", "external_id"], name="one_entry_per_upstream_object")
        ]
        indexes = [models.Index(fields=["organisation", "-created_at", "-id"])]
        verbose_name_plural = "knowledge entries"

    def __str__(self) -> str:
        return self.title or self.external_id


class OAuthState(SealedModelMixin, models.Model):
    """A single-use record behind the `state` of one OAuth popup flow."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    connector_type = models.CharField(max_length=50)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    integration = models.ForeignKey(Integration, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    nonce_hash = models.CharField(max_length=64)
    pkce_sealed = models.TextField(blank=True, default="", editable=False)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    pkce = SealedJSON("pkce_sealed")

    def __str__(self) -> str:
        return f"OAuth state for {self.connector_type}"


class PushLedgerEntry(models.Model):
    """What one destination last accepted of one knowledge entry: the push engine offers an entry
    again only when its content hash or its tombstone differs from what is recorded here."""

    destination = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="+", db_index=False)
    entry = models.ForeignKey(KnowledgeEntry, on_delete=models.CASCADE, related_name="push_ledger")
    # The entry's content hash when the destination last accepted it ("" until it accepted it once),
    # and whether what it accepted was the tombstone.
    accepted_hash = models.CharField(max_length=64, blank=True, default="")
    accepted_deleted = models.BooleanField(default=False)
    accepted_at = models.DateTimeField(null=True, blank=True)
    remote_id = models.CharField(max_length=512, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["destination", "entry"], name="one_ledger_row_per_entry")]
        indexes = [models.Index(fields=["destination", "remote_id"])]
        verbose_name_plural = "push ledger entries"

    def __str__(self) -> str:
        return f"{self.destination_id} {self.entry_id}"


def entry_file_path(instance: EntryFile, filename: str) -> str:
    """Where a file's bytes are stored: by organisation and entry, under a random name (the upstream's
    name is only ever a column, never part of a path)."""
    return f"entry-files/{instance.entry.organisation_id}/{instance.entry_id}/{uuid.uuid4().hex}"


class EntryFile(models.Model):
    """A file a knowledge entry carries, its bytes in the default storage (see integrations.knowledge.files;
    deleting the row, also by cascade from its entry, integration or organisation, deletes the bytes)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The unique (entry, version) constraint serves lookups by entry.
    entry = models.ForeignKey(KnowledgeEntry, on_delete=models.CASCADE, related_name="files", db_index=False)
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255)
    size = models.BigIntegerField()
    # The upstream's name for this version of the file: a version already stored is not downloaded again.
    version = models.CharField(max_length=255)
    file = models.FileField(upload_to=entry_file_path, max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["entry", "version"], name="one_file_per_entry_version")]

    def __str__(self) -> str:
        return self.name


@receiver(post_delete, sender=EntryFile)
def entry_file_bytes_delete(sender: type[EntryFile], instance: EntryFile, **kwargs: object) -> None:
    """A removed row (also by cascade: Django's collector sends this for every row) takes its bytes
    along, once the deletion is committed, so a rolled-back deletion keeps them."""
    if instance.file.name:
        storage, name = instance.file.storage, instance.file.name
        transaction.on_commit(lambda: storage.delete(name), using=kwargs.get("using"))
