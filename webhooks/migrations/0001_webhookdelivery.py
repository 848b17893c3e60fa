"""WebhookDelivery, taken over from the integrations app with its table (integrations/0007).

The table, `integrations_webhookdelivery`, exists since integrations/0002: this only tells Django's
state that the webhooks app owns it now. The content type follows, so admin permissions given on it
keep applying.
"""

import django.db.models.deletion
from django.db import migrations, models


def content_type_follow(apps, schema_editor, *, from_app: str, to_app: str) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    if not content_type.objects.filter(app_label=to_app, model="webhookdelivery").exists():
        content_type.objects.filter(app_label=from_app, model="webhookdelivery").update(app_label=to_app)


def forwards(apps, schema_editor) -> None:
    content_type_follow(apps, schema_editor, from_app="integrations", to_app="webhooks")


def backwards(apps, schema_editor) -> None:
    content_type_follow(apps, schema_editor, from_app="webhooks", to_app="integrations")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("integrations", "0006_push_ledger_and_schedule"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="WebhookDelivery",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("idempotency_key", models.CharField(max_length=255)),
                        ("accepted", models.BooleanField()),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "entry",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="integrations.knowledgeentry",
                            ),
                        ),
                        (
                            "integration",
                            models.ForeignKey(
                                db_index=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="deliveries",
                                to="integrations.integration",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "integrations_webhookdelivery",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("integration", "idempotency_key"), name="one_delivery_per_key"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards, elidable=True),
    ]
