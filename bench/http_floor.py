"""The app as gunicorn serves it, plus the HTTP floor of bench/scale.py (issue 19).

    gunicorn -c gunicorn.conf.py --pythonpath bench http_floor:application

`/bench/floor/auth/` is a bare DRF view with the API's authentication (token) and permission
(authenticated) classes, which reads nothing and logs nothing: what the framework, the
middleware and the request's transaction cost on this server, next to which the case
detail's requests per second are read. Everything else is the app's own URLconf.
"""

import os

import django
from django.conf import settings
from django.urls import include, path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "koordinointi.settings")
django.setup()

from rest_framework.response import Response  # noqa: E402 - after django.setup()
from rest_framework.views import APIView  # noqa: E402


class FloorAuth(APIView):
    def get(self, request):
        return Response({"id": str(request.user.pk)})


urlpatterns = [
    path("bench/floor/auth/", FloorAuth.as_view()),
    path("", include("koordinointi.urls")),
]
settings.ROOT_URLCONF = __name__

from koordinointi.wsgi import application  # noqa: E402,F401 - loads the views, freezes the heap
