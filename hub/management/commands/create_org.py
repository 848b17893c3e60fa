"""`create_org NAME --plan CODE [--status STATUS] [--trial-days N]`: prints the new org's id."""

from django.core.management.base import BaseCommand, CommandError

from hub.models import Plan, SubscriptionStatus
from hub.services import organisation_create


class Command(BaseCommand):
    help = "Create an organisation and print its id."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--plan", required=True, help="Plan code: free, starter, business, enterprise")
        parser.add_argument("--status", default=SubscriptionStatus.TRIALING, choices=SubscriptionStatus.values)
        parser.add_argument("--trial-days", type=int, default=14)

    def handle(self, *args, name: str, plan: str, status: str, trial_days: int, **options):
        if not Plan.objects.filter(code=plan).exists():
            codes = ", ".join(Plan.objects.order_by("id").values_list("code", flat=True))
            raise CommandError(f"Unknown plan {plan!r}; choose one of: {codes}")
        organisation = organisation_create(name=name, plan_code=plan, subscription_status=status, trial_days=trial_days)
        self.stdout.write(str(organisation.id))
