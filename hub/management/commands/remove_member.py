"""`remove_member ORG_ID EMAIL`: removes the user's membership; their tokens stop working at once."""

from django.core.management.base import BaseCommand, CommandError

from hub.management.commands._lookup import organisation_or_fail
from hub.services import membership_remove


class Command(BaseCommand):
    help = "Remove a user from an organisation."

    def add_arguments(self, parser):
        parser.add_argument("org_id")
        parser.add_argument("email")

    def handle(self, *args, org_id: str, email: str, **options):
        organisation = organisation_or_fail(org_id)
        if not membership_remove(organisation=organisation, email=email):
            raise CommandError(f"{email} is not a member of {organisation.name}.")
        self.stdout.write(f"Removed {email} from {organisation.name}")
