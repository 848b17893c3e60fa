"""`add_member ORG_ID EMAIL --role ROLE [--password PW]`: adds a member or changes their role."""

from django.core.management.base import BaseCommand

from hub.management.commands._lookup import organisation_or_fail
from hub.models import Role
from hub.services import membership_set


class Command(BaseCommand):
    help = "Add a user (created if needed) to an organisation, or change an existing member's role."

    def add_arguments(self, parser):
        parser.add_argument("org_id")
        parser.add_argument("email")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--password", default=None)

    def handle(self, *args, org_id: str, email: str, role: str, password: str | None, **options):
        organisation = organisation_or_fail(org_id)
        membership, created = membership_set(organisation=organisation, email=email, role=Role(role), password=password)
        verb = "Created user and added" if created else "Set"
        self.stdout.write(f"{verb} {membership.user.email} as {role} in {organisation.name}")
