from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def since(moment) -> str:
    """How long ago, as the page's own clock writes it: 12s, 3m, 2h 5m, 3d."""
    if moment is None:
        return ""
    seconds = max(0, round((timezone.now() - moment).total_seconds()))
    minutes, hours = seconds // 60, seconds // 3600
    if seconds < 60:
        return f"{seconds}s"
    if minutes < 60:
        return f"{minutes}m"
    return f"{hours}h {minutes % 60}m" if hours < 48 else f"{hours // 24}d"
