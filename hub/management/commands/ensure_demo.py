"""`ensure_demo`: creates a demo organisation and admin once, then prints how to log in."""

import json
import secrets

from django.conf import settings
from django.core.management.base import BaseCommand

from hub.auth import tokens_for
from hub.models import Membership, Role, SubscriptionStatus
from hub.services import membership_set, organisation_create

DEMO_EMAIL = "admin@demo.tributary.local"
DEMO_ORG = "Demo Organisation"


class Command(BaseCommand):
    help = "Create the demo organisation and admin user if none exist; print email, password and a token."

    def handle(self, *args, **options):
        credentials_path = settings.VAR_DIR / "demo-credentials.json"
        membership = (
            Membership.objects.select_related("user", "organisation")
            .filter(user__email=DEMO_EMAIL, organisation__name=DEMO_ORG)
            .first()
        )
        if membership is None or not credentials_path.exists():
            password = secrets.token_urlsafe(12)
            if membership is None:
                organisation = organisation_create(
                    name=DEMO_ORG, plan_code="business", subscription_status=SubscriptionStatus.ACTIVE
                )
            else:
                organisation = membership.organisation
            membership, _ = membership_set(
                organisation=organisation, email=DEMO_EMAIL, role=Role.ADMIN, password=password
            )
            credentials_path.write_text(json.dumps({"email": DEMO_EMAIL, "password": password}))
            credentials_path.chmod(0o600)
        password = json.loads(credentials_path.read_text())["password"]
        access = tokens_for(membership)["access"]
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "Tributary demo login",
                    f"  organisation: {membership.organisation.name} ({membership.organisation_id})",
                    f"  email:        {DEMO_EMAIL}",
                    f"  password:     {password}",
                    f"  access token: {access}",
                    "",
                    f'  export TOKEN="{access}"',
                    "",
                ]
            )
        )
