"""Django admin for operators: plans, organisations, users and memberships; refresh tokens without their text."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

# Imported first so that its registrations exist here to be replaced (hub comes earlier in INSTALLED_APPS).
from rest_framework_simplejwt.token_blacklist import admin as token_blacklist_admin
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from hub.models import Membership, Organisation, Plan, User


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "max_integrations")


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "plan", "subscription_status", "trial_ends_at", "created_at")
    list_filter = ("plan", "subscription_status")
    search_fields = ("name", "id")
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "organisation", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__email", "organisation__name")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "full_name", "is_staff", "is_active")
    search_fields = ("email", "full_name")
    fieldsets = (
        (None, {"fields": ("email", "password", "full_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


admin.site.unregister(OutstandingToken)


@admin.register(OutstandingToken)
class OutstandingTokenAdmin(token_blacklist_admin.OutstandingTokenAdmin):
    """Refresh tokens by id, user and dates; never the token itself, which would log in as its user."""

    exclude = ("token",)

    def get_readonly_fields(self, *args, **kwargs) -> list[str]:
        return [name for name in super().get_readonly_fields(*args, **kwargs) if name != "token"]
