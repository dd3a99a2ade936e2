"""Access and disclosure events live here; change history comes from django-auditlog."""
