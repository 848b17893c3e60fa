"""WebhookDelivery moves to the webhooks app (webhooks/0001_webhookdelivery), table and rows included.

Only Django's state changes: the model leaves this app here after the webhooks app has taken it
over, with the same table (`Meta.db_table`), so no row is copied and no DDL runs.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0006_push_ledger_and_schedule"),
        ("webhooks", "0001_webhookdelivery"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="WebhookDelivery")],
            database_operations=[],
        ),
    ]
