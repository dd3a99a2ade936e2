"""Ties change-history entries to the acting user, however the request authenticated."""

from auditlog.cid import set_cid
from auditlog.context import set_extra_data
from auditlog.middleware import AuditlogMiddleware


class ChangeActorMiddleware(AuditlogMiddleware):
    """django-auditlog's middleware reads request.user before DRF has authenticated a token.

    Here the actor is read lazily, when a log entry is saved: DRF sets request.user on the
    underlying Django request once it authenticates, so token users are recorded too.
    """

    def get_extra_data(self, request):
        def actor_id():
            user = getattr(request, "user", None)
            return user.pk if user is not None and user.is_authenticated else None

        return {
            "actor_id": actor_id,
            "remote_addr": self._get_remote_addr(request),
            "remote_port": self._get_remote_port(request),
        }

    def __call__(self, request):
        set_cid(request)
        with set_extra_data(context_data=self.get_extra_data(request)):
            return self.get_response(request)
