"""OpenAPI: describes our JWT authentication as the bearer scheme it is."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class OrgJWTScheme(SimpleJWTScheme):
    target_class = "hub.auth.OrgJWTAuthentication"
    name = "jwtAuth"
