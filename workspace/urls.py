"""The root URLconf. Only this module (and routing.py) imports views."""

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from documents import views as document_views
from messaging import note_views
from messaging import views as messaging_views
from networks import views as network_views
from workspace import health, views
from workspace.accounts import views as account_views
from workspace.audit import views as audit_views
from workspace.insight import views as insight_views
from workspace.notifications import views as notification_views
from workspace.search import views as search_views

# The admin signs in through allauth (password, then the MFA step, with its rate limits),
# never through Django's own password-only form.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

urlpatterns = [
    path("", views.home, name="home"),
    # Browsers ask for /favicon.ico on pages that name no icon (error pages included).
    path("favicon.ico", views.favicon, name="favicon"),
    path("help/shortcuts/", views.shortcuts_help, name="shortcuts_help"),
    path("healthz", health.healthz, name="healthz"),
    # Full-text search over what the user may see (workspace/search).
    path("search/", search_views.search_page, name="search"),
    path("metrics", health.metrics_view, name="metrics"),
    # The token travels in the link's fragment and reaches us in a POST body, never a path.
    path("invitations/", network_views.invitation_accept, name="invitation_accept"),
    path("networks/<slug:slug>/", network_views.network_directory, name="network_directory"),
    path("networks/<slug:slug>/spaces/new/", network_views.space_create, name="space_create"),
    path("spaces/<int:space_id>/", network_views.space_detail, name="space_detail"),
    path("spaces/<int:space_id>/audit/", audit_views.space_audit, name="space_audit"),
    path("spaces/<int:space_id>/insight/", insight_views.space_insight, name="space_insight"),
    path("networks/<slug:slug>/insight/", insight_views.network_insight, name="network_insight"),
    path("networks/<slug:slug>/audit/", audit_views.network_audit, name="network_audit"),
    path("audit/", audit_views.platform_audit, name="platform_audit"),
    path(
        "spaces/<int:space_id>/join/", network_views.join_request_create, name="join_request_create"
    ),
    path("spaces/<int:space_id>/members/", network_views.space_members, name="space_members"),
    path("spaces/<int:space_id>/members/invite/", network_views.space_invite, name="space_invite"),
    path(
        "spaces/<int:space_id>/members/<int:membership_id>/",
        network_views.membership_change,
        name="membership_change",
    ),
    path(
        "spaces/<int:space_id>/members/<int:membership_id>/status/",
        network_views.membership_status,
        name="membership_status",
    ),
    path(
        "spaces/<int:space_id>/requests/<int:request_id>/",
        network_views.join_request_decide,
        name="join_request_decide",
    ),
    # Discussions (messaging): topics and messages of a space.
    path("spaces/<int:space_id>/topics/", messaging_views.topic_list, name="topic_list"),
    path("spaces/<int:space_id>/topics/new/", messaging_views.topic_create, name="topic_create"),
    path(
        "spaces/<int:space_id>/topics/<int:topic_id>/",
        messaging_views.topic_detail,
        name="topic_detail",
    ),
    path(
        "spaces/<int:space_id>/topics/<int:topic_id>/post/",
        messaging_views.message_post,
        name="message_post",
    ),
    path(
        "spaces/<int:space_id>/messages/<int:message_id>/edit/",
        messaging_views.message_edit,
        name="message_edit",
    ),
    path(
        "spaces/<int:space_id>/messages/<int:message_id>/delete/",
        messaging_views.message_delete,
        name="message_delete",
    ),
    path(
        "spaces/<int:space_id>/messages/<int:message_id>/revisions/",
        messaging_views.message_revisions,
        name="message_revisions",
    ),
    path(
        "spaces/<int:space_id>/messages/<int:message_id>/react/",
        messaging_views.reaction_toggle,
        name="reaction_toggle",
    ),
    # Modus-operandi notes (messaging/note_views.py).
    path("spaces/<int:space_id>/notes/", note_views.note_list, name="note_list"),
    path("spaces/<int:space_id>/notes/new/", note_views.note_create, name="note_create"),
    path(
        "spaces/<int:space_id>/notes/export.json",
        note_views.note_list_export,
        name="note_list_export",
    ),
    path(
        "spaces/<int:space_id>/notes/<int:note_id>/",
        note_views.note_detail,
        name="note_detail",
    ),
    path(
        "spaces/<int:space_id>/notes/<int:note_id>/edit/",
        note_views.note_edit,
        name="note_edit",
    ),
    path(
        "spaces/<int:space_id>/notes/<int:note_id>/export.json",
        note_views.note_export,
        name="note_export",
    ),
    path("spaces/<int:space_id>/documents/", document_views.document_list, name="document_list"),
    path("spaces/<int:space_id>/documents/new/", document_views.document_new, name="document_new"),
    path(
        "spaces/<int:space_id>/documents/upload/",
        document_views.document_upload,
        name="document_upload",
    ),
    path(
        "spaces/<int:space_id>/documents/uploads/",
        document_views.upload_start,
        name="upload_start",
    ),
    path(
        "documents/<int:document_id>/versions/uploads/",
        document_views.version_upload_start,
        name="version_upload_start",
    ),
    path(
        "uploads/<uuid:upload_id>/parts/<int:index>/",
        document_views.upload_part,
        name="upload_part",
    ),
    path("uploads/<uuid:upload_id>/finish/", document_views.upload_finish, name="upload_finish"),
    path("documents/<int:document_id>/", document_views.document_detail, name="document_detail"),
    path(
        "documents/<int:document_id>/versions/upload/",
        document_views.version_upload,
        name="version_upload",
    ),
    path(
        "documents/<int:document_id>/versions/<int:number>/download/",
        document_views.version_download,
        name="version_download",
    ),
    path(
        "documents/<int:document_id>/delete/",
        document_views.document_delete,
        name="document_delete",
    ),
    # Notifications (workspace/notifications): the list, mark read, settings, topic follows.
    path("notifications/", notification_views.notification_list, name="notification_list"),
    path(
        "notifications/<int:notification_id>/read/",
        notification_views.notification_read,
        name="notification_read",
    ),
    path(
        "notifications/read-all/",
        notification_views.notification_read_all,
        name="notification_read_all",
    ),
    path(
        "notifications/settings/",
        notification_views.notification_settings,
        name="notification_settings",
    ),
    path(
        "spaces/<int:space_id>/topics/<int:topic_id>/follow/",
        notification_views.topic_follow,
        name="topic_follow",
    ),
    path("accounts/profile/", account_views.profile_edit, name="profile_edit"),
    # Before allauth's own route: the last authenticator cannot be removed.
    path(
        "accounts/2fa/webauthn/keys/<int:pk>/remove/",
        account_views.webauthn_remove,
        name="mfa_remove_webauthn",
    ),
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
