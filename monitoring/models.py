"""Health sweep and monitoring endpoints."""
