"""Rate limit on the portal's sign-in form, per client address (rate in REST_FRAMEWORK settings)."""

from rest_framework.throttling import SimpleRateThrottle


class PortalLoginThrottle(SimpleRateThrottle):
    """The portal's sign-in form is a Django view: it asks this throttle directly."""

    scope = "portal_login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class ContactRequestThrottle(PortalLoginThrottle):
    """The public contact-request form (portal/contact.py): its own count per client address."""

    scope = "contact_request"
