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
        def authenticated_user():
            user = getattr(request, "user", None)
            return user if user is not None and user.is_authenticated else None

        def actor_id():
            user = authenticated_user()
            return user.pk if user is not None else None

        def actor_email():
            user = authenticated_user()
            return getattr(user, "email", None) if user is not None else None

        # auditlog calls each callable when it saves a log entry, not when the request starts.
        return {
            "actor_id": actor_id,
            "actor_email": actor_email,
            "remote_addr": self._get_remote_addr(request),
            "remote_port": self._get_remote_port(request),
        }

    def __call__(self, request):
        set_cid(request)
        with set_extra_data(context_data=self.get_extra_data(request)):
            return self.get_response(request)
