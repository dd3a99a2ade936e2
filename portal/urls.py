"""Family portal URLs under /portal/."""

app_name = "portal"
urlpatterns: list = []
