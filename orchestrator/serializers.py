"""Serializer building blocks that hold input to exactly what the API documents."""

from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A string, and only a string: 42 or true is an error, not '42' or 'True'."""

    def __init__(self, **kwargs):
        if not kwargs.get("allow_blank"):
            kwargs.setdefault("min_length", 1)  # so the schema says what "not blank" means
        super().__init__(**kwargs)

    default_error_messages = {"encoding": "must be valid Unicode text (no lone surrogates)"}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            self.fail("encoding")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """true/false in JSON; in a query string also 1/0, yes/no."""

    def to_internal_value(self, data):
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            self.fail("invalid", input=data)
        return super().to_internal_value(data)


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo is an error rather than ignored."""

    def to_internal_value(self, data):
        if isinstance(data, dict) or hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["unknown field"] for name in unknown})
        return super().to_internal_value(data)


MAX_PAGE = 1000
MAX_OFFSET = 2**31 - 1  # past what any list holds; and a database takes it as an integer


class PageQuerySerializer(StrictSerializer):
    """`limit` and `offset` of a list; the whole count is in the X-Total-Count header."""

    limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, required=False, default=500)
    offset = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET, required=False, default=0)


def validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def error_text(detail) -> str:
    """Flatten DRF's error detail into one sentence that names each field."""
    if isinstance(detail, dict):
        parts = []
        for field, value in detail.items():
            text = error_text(value)
            parts.append(text if field in ("detail", "non_field_errors") else f"{field}: {text}")
        return "; ".join(parts)
    if isinstance(detail, list):
        return " ".join(error_text(item) for item in detail)
    return str(detail)
