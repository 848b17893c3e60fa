"""Seeds the four plans and their integration limits."""

from django.db import migrations

PLANS = [
    ("free", "Free", 1),
    ("starter", "Starter", 5),
    ("business", "Business", 25),
    ("enterprise", "Enterprise", None),
]


def seed_plans(apps, schema_editor):
    Plan = apps.get_model("hub", "Plan")
    for code, name, limit in PLANS:
        Plan.objects.update_or_create(code=code, defaults={"name": name, "max_integrations": limit})


def unseed_plans(apps, schema_editor):
    apps.get_model("hub", "Plan").objects.filter(code__in=[code for code, _, _ in PLANS]).delete()


class Migration(migrations.Migration):
    dependencies = [("hub", "0001_initial")]
    operations = [migrations.RunPython(seed_plans, unseed_plans)]
