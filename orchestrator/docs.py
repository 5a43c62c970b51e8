"""The OpenAPI schema and its two documentation pages, answering errors in the envelope."""

from django.contrib.auth.views import redirect_to_login
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.exceptions import NotAuthenticated

from orchestrator.api import EnvelopeErrorsMixin


class SchemaView(EnvelopeErrorsMixin, SpectacularJSONAPIView):
    pass


class DocsPageMixin(EnvelopeErrorsMixin):
    """A person opening the docs without a token is sent to the admin login, then back."""

    def handle_exception(self, exc):
        if isinstance(exc, NotAuthenticated) and "text/html" in self.request.headers.get("Accept", ""):
            return redirect_to_login(self.request.get_full_path(), "admin:login")
        return super().handle_exception(exc)


class SwaggerView(DocsPageMixin, SpectacularSwaggerView):
    pass


class RedocView(DocsPageMixin, SpectacularRedocView):
    pass
