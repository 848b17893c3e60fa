"""`delete_org ORG_ID --yes`: deletes the organisation and everything it owns."""

from django.core.management.base import BaseCommand, CommandError

from hub.management.commands._lookup import organisation_or_fail
from hub.services import organisation_delete


class Command(BaseCommand):
    help = "Delete an organisation with its memberships, integrations, jobs and entries."

    def add_arguments(self, parser):
        parser.add_argument("org_id")
        parser.add_argument("--yes", action="store_true", help="Confirm the irreversible deletion")

    def handle(self, *args, org_id: str, yes: bool, **options):
        organisation = organisation_or_fail(org_id)
        if not yes:
            raise CommandError("Refusing to delete without --yes.")
        name = organisation.name
        organisation_delete(organisation=organisation)
        self.stdout.write(f"Deleted organisation {name} ({org_id})")
