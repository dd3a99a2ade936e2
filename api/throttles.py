"""Rate limits on the sign-in endpoints, per client address (rates in REST_FRAMEWORK settings)."""

from rest_framework.throttling import SimpleRateThrottle


class PortalLoginThrottle(SimpleRateThrottle):
    """The portal's sign-in form is a Django view: it asks this throttle directly."""

    scope = "portal_login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
