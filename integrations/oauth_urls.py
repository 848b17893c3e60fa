"""OAuth popup routes (filled in by the OAuth module)."""

urlpatterns: list = []
