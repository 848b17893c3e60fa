"""Knowledge base routes (filled in by the knowledge API module)."""

urlpatterns: list = []
