"""Tenancy services: organisations, memberships and login."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.contrib.auth import authenticate
from django.db import transaction
from django.utils import timezone

from hub.errors import ApiError, ErrorCode
from hub.models import Membership, Organisation, Plan, Role, SubscriptionStatus, User


def organisation_create(
    *,
    name: str,
    plan_code: str,
    subscription_status: str = SubscriptionStatus.TRIALING,
    trial_days: int | None = 14,
) -> Organisation:
    plan = Plan.objects.get(code=plan_code)
    trial_ends_at = None
    if subscription_status == SubscriptionStatus.TRIALING and trial_days is not None:
        trial_ends_at = timezone.now() + timedelta(days=trial_days)
    return Organisation.objects.create(
        name=name, plan=plan, subscription_status=subscription_status, trial_ends_at=trial_ends_at
    )


@transaction.atomic
def membership_set(
    *, organisation: Organisation, email: str, role: Role, password: str | None = None
) -> tuple[Membership, bool]:
    """Add the user (created if unknown) to the organisation with `role`, or change their role.

    Returns the membership and whether the user was created.
    """
    email = email.strip().lower()
    user = User.objects.filter(email=email).first()
    user_created = user is None
    if user is None:
        user = User.objects.create_user(email=email, password=password)
    elif password:
        user.set_password(password)
        user.save(update_fields=["password"])
    membership, _ = Membership.objects.update_or_create(user=user, organisation=organisation, defaults={"role": role})
    return membership, user_created


def membership_remove(*, organisation: Organisation, email: str) -> bool:
    deleted, _ = Membership.objects.filter(organisation=organisation, user__email=email.strip().lower()).delete()
    return deleted > 0


def organisation_delete(*, organisation: Organisation) -> None:
    """Delete the organisation and, by cascade, everything it owns."""
    organisation.delete()


def login_membership(*, email: str, password: str, org_id: uuid.UUID | None) -> Membership:
    """The membership a login opens: checks the password, then picks the organisation."""
    user = authenticate(email=email.strip().lower(), password=password)
    if user is None:
        raise ApiError(ErrorCode.UNAUTHORIZED, "Invalid email or password.")
    memberships = Membership.objects.filter(user=user).select_related("organisation", "user")
    if org_id is not None:
        membership = memberships.filter(organisation_id=org_id).first()
        if membership is not None:
            return membership
        if not Organisation.objects.filter(id=org_id).exists():
            raise ApiError(ErrorCode.ORG_NOT_FOUND, "That organisation does not exist.")
        raise ApiError(ErrorCode.INSUFFICIENT_ROLE, "You are not a member of that organisation.")
    choices = list(memberships.order_by("organisation__name"))
    if len(choices) == 1:
        return choices[0]
    if not choices:
        raise ApiError(ErrorCode.INSUFFICIENT_ROLE, "You are not a member of any organisation.")
    raise ApiError(
        ErrorCode.VALIDATION_ERROR,
        "You belong to several organisations: choose one with org_id.",
        details={
            "org_id": ["This field is required when you belong to several organisations."],
            "organisations": [
                {"id": str(m.organisation_id), "name": m.organisation.name, "role": m.role} for m in choices
            ],
        },
    )
