"""The hub's URLs plus views that fail on purpose, for the error-envelope tests."""

from django.http import HttpResponse
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from hub.urls import urlpatterns as hub_urlpatterns


class ExplodingApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request):
        raise RuntimeError("secret-internal-detail")


def exploding_plain_view(request) -> HttpResponse:
    raise KeyError("secret-internal-detail")


urlpatterns = [
    path("api/v1/test/explode", ExplodingApi.as_view()),
    path("api/v1/test/explode-plain", exploding_plain_view),
    *hub_urlpatterns,
]
handler404 = "hub.errors.handler404"
handler500 = "hub.errors.handler500"
