"""The root URLconf. Only this module (and routing.py) imports views."""

from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from networks import views as network_views
from workspace import views
from workspace.accounts import views as account_views

urlpatterns = [
    path("", views.home, name="home"),
    path("invitations/<str:token>/", network_views.invitation_accept, name="invitation_accept"),
    path("accounts/profile/", account_views.profile_edit, name="profile_edit"),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("admin/", admin.site.urls),
]

handler400 = "workspace.views.bad_request"
handler403 = "workspace.views.permission_denied"
handler404 = "workspace.views.page_not_found"
handler429 = "workspace.views.too_many_requests"
handler500 = "workspace.views.server_error"
