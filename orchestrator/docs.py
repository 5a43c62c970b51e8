"""The OpenAPI schema and its two documentation pages, answering errors in the envelope."""

from drf_spectacular.views import SpectacularJSONAPIView, SpectacularRedocView, SpectacularSwaggerView

from orchestrator.api import EnvelopeErrorsMixin


class SchemaView(EnvelopeErrorsMixin, SpectacularJSONAPIView):
    pass


class SwaggerView(EnvelopeErrorsMixin, SpectacularSwaggerView):
    pass


class RedocView(EnvelopeErrorsMixin, SpectacularRedocView):
    pass
