"""`rotate_encryption_keys`: re-seals every sealed value with the newest key."""

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from hub.crypto import SealedModelMixin

BATCH = 500


class Command(BaseCommand):
    help = "Re-seal every encrypted column with the newest key in FIELD_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        total = 0
        for model in apps.get_models():
            if not issubclass(model, SealedModelMixin):
                continue
            resealed = self._rotate(model)
            total += resealed
            self.stdout.write(f"{model._meta.label}: re-sealed {resealed} rows")
        self.stdout.write(f"Done: {total} rows re-sealed")

    def _rotate(self, model) -> int:
        resealed = 0
        pks = list(model.objects.values_list("pk", flat=True))
        for start in range(0, len(pks), BATCH):
            with transaction.atomic():
                rows = model.objects.select_for_update().filter(pk__in=pks[start : start + BATCH])
                for row in rows:
                    if changed := row.reseal():
                        row.save(update_fields=changed)
                        resealed += 1
        return resealed
