"""Settings, read from the environment (django-environ) with safe laptop defaults."""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env is honoured for convenience; real deployments set the environment.
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)

DATA_DIR = Path(env.str("WORKSPACE_DATA_DIR", default=str(BASE_DIR / "data")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

# The secret key: required in production; in DEBUG a per-checkout key is generated once.
if DEBUG:
    from workspace.keys import read_or_create_key_file

    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or (
        "dev-" + read_or_create_key_file(DATA_DIR / "dev-secret.key").hex()
    )
else:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY")

ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# The origins (scheme, host and port) whose pages may open a WebSocket: by default each
# allowed host over HTTPS on port 443, and in DEBUG the demo server `make run` starts.
# Channels' OriginValidator compares all three (workspace/asgi.py).
WORKSPACE_ALLOWED_ORIGINS = env.list("DJANGO_ALLOWED_ORIGINS", default=[]) or [
    *CSRF_TRUSTED_ORIGINS,
    *(f"https://{host}" for host in ALLOWED_HOSTS if host != "*"),
    *(["http://127.0.0.1:8000", "http://localhost:8000"] if DEBUG else []),
]

# The master key wraps space keys and TOTP secrets. Generated (0600) if absent.
# WORKSPACE_KEY_PROVIDER may name another KeyProvider class (a KMS or HSM).
WORKSPACE_MASTER_KEY_FILE = Path(
    env.str("WORKSPACE_MASTER_KEY_FILE", default=str(DATA_DIR / "master.key"))
)
WORKSPACE_KEY_PROVIDER = env.str("WORKSPACE_KEY_PROVIDER", default="")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "guardian",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "csp",
    "django_countries",  # its catalogues: country names in every UI language
    "workspace.apps.WorkspaceConfig",
    "workspace.accounts",
    "workspace.audit",
    "workspace.insight",
    "workspace.notifications",
    "networks",
    "messaging",
    "documents",
]

MIDDLEWARE = [
    # First, so every response (redirects and errors too) carries and counts its request id.
    "workspace.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "workspace.middleware.SecurityHeadersMiddleware",
    "workspace.middleware.LoginRateLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "workspace.middleware.SessionTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # In place of allauth's UserSessionsMiddleware: records activity at most once a minute.
    "workspace.middleware.SessionActivityMiddleware",
    "workspace.middleware.RequireMFAMiddleware",
]

ROOT_URLCONF = "workspace.urls"
ASGI_APPLICATION = "workspace.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]

# --- Data stores -----------------------------------------------------------
DATABASES = {
    "default": env.db(
        "DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'workspace.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
# No persistent connections for requests: under ASGI each request runs on a thread of its
# own, and a connection kept for reuse (CONN_MAX_AGE) stays behind with that thread. The
# load test ran PostgreSQL out of connections that way ("too many clients") within 100
# users; Django's documentation says to disable them under ASGI. The WebSocket consumers'
# database threads (messaging/dbthreads.py) are long-lived and few, and keep theirs.
DATABASES["default"].setdefault("CONN_MAX_AGE", 0)  # a ?conn_max_age= in the URL wins
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT. The access rule's conditions give ordinary list and search plans an
    # estimated cost above jit_above_cost, and compiling took 1.9 s of a 2.4 s search
    # (bench/bench_search.py); queries here run in milliseconds and never gain from it.
    # Set per connection at startup, so no query pays a SET round trip for it.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} -c jit=off".strip()
    # Prepared statements: parameters bound by the server, and a statement run five
    # times on a connection is prepared there, so PostgreSQL stops parsing and planning
    # it. Django turns them off by default for poolers; here each connection is the
    # process's own (the sockets' database threads keep theirs, and run the same dozen
    # statements for every frame). Planning was about a third of a post frame's time on
    # PostgreSQL (docs/benchmarks.md). Off for a transaction-mode PgBouncer in between.
    if env.bool("WORKSPACE_DB_PREPARED_STATEMENTS", default=True):
        _options.setdefault("server_side_binding", True)
        _options.setdefault("prepare_threshold", 5)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# PostgreSQL: requests take their connection from a pool of this many per process
# (Django's pool, psycopg_pool) instead of opening one each; 0 = no pool. A new
# connection costs PostgreSQL a process fork and a cold catalog cache, for every
# request (docs/benchmarks.md has what the load test measured). The pool must hold every
# thread that can query at once: WORKSPACE_MAX_CONCURRENT_REQUESTS, the sockets'
# WORKSPACE_SOCKET_DB_THREADS (which keep theirs) and a few for the rest (health checks).
DB_POOL_SIZE = env.int("WORKSPACE_DB_POOL_SIZE", default=0)
if DB_POOL_SIZE > 0 and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    if DATABASES["default"]["CONN_MAX_AGE"] != 0:
        raise ImproperlyConfigured("WORKSPACE_DB_POOL_SIZE needs conn_max_age=0 (Django's rule)")
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": min(4, DB_POOL_SIZE),
        "max_size": DB_POOL_SIZE,
        # A request waits at most this long for a connection (then a 500). The pool
        # holds a connection for every thread that can ask at once, so only a database
        # that is down or restarting makes anyone wait: a request or a socket frame then
        # fails within 2 s, as it did without the pool, instead of hanging.
        "timeout": 2,
    }
# PostgreSQL with two roles (docs/deploy.md, "Database roles"): DATABASE_OWNER_URL names
# the role that owns the tables, with DATABASE_URL's database; `migrate` and `flush` run
# as it (workspace/audit/dbroles.py). DATABASE_URL's role then owns nothing, so it cannot
# disable the audit log's triggers, and may only read and append audit rows. Unset: one
# role does everything.
DATABASE_OWNER: dict[str, str] = {}
DATABASE_APP_ROLE = ""
if env.str("DATABASE_OWNER_URL", default=""):
    _owner = env.db("DATABASE_OWNER_URL")
    _same = ("ENGINE", "NAME", "HOST", "PORT")
    if [_owner.get(k) for k in _same] != [DATABASES["default"].get(k) for k in _same]:
        raise ImproperlyConfigured(
            "DATABASE_OWNER_URL must name DATABASE_URL's PostgreSQL database, as another role"
        )
    DATABASE_OWNER = {"USER": _owner["USER"], "PASSWORD": _owner.get("PASSWORD", "")}
    DATABASE_APP_ROLE = DATABASES["default"]["USER"]
# Threads for the WebSocket consumers' database work (messaging/dbthreads.py); 0 (the
# default): 4 on PostgreSQL, 1 on SQLite. Each keeps one database connection open.
MESSAGING_DB_THREADS = env.int("WORKSPACE_SOCKET_DB_THREADS", default=0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
REDIS_CHANNEL_LAYERS = {
    "pubsub": "workspace.layers.PubSubChannelLayer",  # channels_redis's, one lock fewer
    "lists": "channels_redis.core.RedisChannelLayer",
}
REDIS_CHANNEL_LAYER = env.str("WORKSPACE_CHANNEL_LAYER", default="pubsub")
if REDIS_CHANNEL_LAYER not in REDIS_CHANNEL_LAYERS:
    raise ImproperlyConfigured(
        f"WORKSPACE_CHANNEL_LAYER must be one of {sorted(REDIS_CHANNEL_LAYERS)}, "
        f"not {REDIS_CHANNEL_LAYER!r}"
    )
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": REDIS_CHANNEL_LAYERS[REDIS_CHANNEL_LAYER],
            # redis-py 8 times out socket reads after 5 s, the same as channels_redis's
            # blocking receive: idle sockets were torn down (close 1011) under load
            # (bench/loadtest.py). A longer read timeout keeps them.
            # redis-py's pool holds at most 100 connections by default and raises when it
            # is empty; a process with a few hundred sockets connecting at once emptied it
            # (MaxConnectionsError, seen as nginx 502s in the load test's 500-user ramp).
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": 15,
                        "max_connections": env.int("WORKSPACE_REDIS_MAX_CONNECTIONS", default=1000),
                    }
                ]
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("WORKSPACE_CACHE_PREFIX", default="ws"),
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "workspace.layers.SweepingInMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

MEDIA_ROOT = Path(env.str("WORKSPACE_MEDIA_ROOT", default=str(DATA_DIR / "media")))
MEDIA_URL = "/media-not-served/"
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "workspace" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Accounts ----------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
    "guardian.backends.ObjectPermissionBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

ACCOUNT_ADAPTER = "workspace.accounts.adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = True
ACCOUNT_REAUTHENTICATION_REQUIRED = True
ACCOUNT_REAUTHENTICATION_TIMEOUT = env.int("WORKSPACE_REAUTH_TIMEOUT", default=300)
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_PRESERVE_USERNAME_CASING = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_RATE_LIMITS = {
    # allauth defaults, stated here so the policy is visible in one place.
    "login_failed": env.str("WORKSPACE_RATE_LOGIN_FAILED", default="10/m/ip,5/5m/key"),
    # Ours: a browser holding a device cookie for the account (it completed MFA there)
    # counts its failed logins and MFA codes on its own instead (workspace.accounts.devices).
    "login_failed_device": "5/5m/key",
    "login": "30/m/ip",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
    "reauthenticate": "10/m/user",
}
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("WORKSPACE_TRUSTED_PROXY_COUNT", default=0)

MFA_ADAPTER = "workspace.accounts.adapter.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_TOTP_ISSUER = env.str("WORKSPACE_TOTP_ISSUER", default="Expert Workspace")
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG
MFA_PASSKEY_LOGIN_ENABLED = False
# The MFA step's form counts a device cookie's wrong codes on its own (see above).
MFA_FORMS = {"authenticate": "workspace.accounts.forms.MFAAuthenticateForm"}
# Changing email on an MFA account: the new address stays unverified (and unused for
# login or reset) until confirmed, and the change itself needs reauthentication.
MFA_ALLOW_UNVERIFIED_EMAIL = True

USERSESSIONS_TRACK_ACTIVITY = True
USERSESSIONS_ADAPTER = "workspace.accounts.adapter.UserSessionsAdapter"

# --- Sessions: idle timeout via a rolling cookie, absolute timeout in middleware.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = env.int("WORKSPACE_SESSION_IDLE_TIMEOUT", default=30 * 60)
# Not on every request: SessionActivityMiddleware saves an active session once a minute.
SESSION_SAVE_EVERY_REQUEST = False
WORKSPACE_SESSION_ACTIVITY_SECONDS = env.int("WORKSPACE_SESSION_ACTIVITY_SECONDS", default=60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
WORKSPACE_SESSION_ABSOLUTE_TIMEOUT = env.int(
    "WORKSPACE_SESSION_ABSOLUTE_TIMEOUT", default=12 * 60 * 60
)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# The signed device cookie of a browser that completed MFA (workspace.accounts.devices):
# HttpOnly, SameSite=Lax, Secure as the session cookie is.
WORKSPACE_DEVICE_COOKIE_NAME = "workspace_device"
WORKSPACE_DEVICE_COOKIE_AGE = 180 * 24 * 3600
CSRF_COOKIE_SAMESITE = "Lax"

# --- Security headers (every mode) -----------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
WORKSPACE_PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=(), interest-cohort=()"
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- HTTPS-only settings: on whenever DEBUG is off ---------------------------
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("WORKSPACE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("WORKSPACE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-sessionid"
    WORKSPACE_DEVICE_COOKIE_NAME = "__Host-device"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    if env.bool("WORKSPACE_BEHIND_TLS_PROXY", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Documents: the largest plaintext accepted (ciphertext adds ~0.03 %) ----------
WORKSPACE_MAX_UPLOAD_BYTES = env.int("WORKSPACE_MAX_UPLOAD_BYTES", default=1024 * 1024 * 1024)
# Larger files travel in parts of this size (daphne buffers each request body in memory).
WORKSPACE_UPLOAD_PART_BYTES = env.int("WORKSPACE_UPLOAD_PART_BYTES", default=8 * 1024 * 1024)
# HTTP requests one process runs in Django at once (workspace/asgi_limits.py); each holds
# a thread and a database connection. The rest wait, and get a 503 after
# WORKSPACE_REQUEST_QUEUE_SECONDS. 0 = no limit.
WORKSPACE_MAX_CONCURRENT_REQUESTS = env.int("WORKSPACE_MAX_CONCURRENT_REQUESTS", default=16)
WORKSPACE_REQUEST_QUEUE_SECONDS = env.float("WORKSPACE_REQUEST_QUEUE_SECONDS", default=30.0)
# The daphne process's garbage collector (workspace/gc_tuning.py): startup's objects are
# frozen, and the youngest generation is collected after this many allocations (CPython's
# default, 700, made full collections of 270-400 ms every few seconds under load). 0 =
# CPython's defaults.
WORKSPACE_GC_THRESHOLD = env.int("WORKSPACE_GC_THRESHOLD", default=20_000)

# --- Clearance levels: names are per deployment; only their order matters ---------
WORKSPACE_CLEARANCE_LEVELS = env.list(
    "WORKSPACE_CLEARANCE_LEVELS", default=["OPEN", "RESTRICTED", "CONFIDENTIAL", "SECRET"]
)

# --- Languages ---------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español"), ("pt", "Português"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

# --- Email ----------------------------------------------------------------------
EMAIL_BACKEND = env.str(
    "DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env.str("WORKSPACE_FROM_EMAIL", default="workspace@localhost")
# The site's public address, for links in notification emails (sent outside any request).
WORKSPACE_SITE_URL = env.str("WORKSPACE_SITE_URL", default="http://localhost:8000")

# --- Guardian ----------------------------------------------------------------
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False

# Logs go to stderr (stdout stays clean for command output such as dumpdata), one JSON
# object per line unless WORKSPACE_LOG_FORMAT=text (the default in DEBUG). The handler's
# filters add the request id and redact secrets, whichever logger emitted the record.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "workspace.logging.RequestIdFilter"},
        "redact": {"()": "workspace.logging.RedactingFilter"},
    },
    "formatters": {
        "json": {"()": "workspace.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "level": env.str("WORKSPACE_LOG_LEVEL", default="INFO"),
            "filters": ["request_id", "redact"],
            "formatter": "json"
            if env.str("WORKSPACE_LOG_FORMAT", default="text" if DEBUG else "json").lower()
            == "json"
            else "text",
        }
    },
    "root": {"handlers": ["console"], "level": env.str("WORKSPACE_LOG_LEVEL", default="INFO")},
    # Django's own console handler would print its records a second time, unredacted.
    "loggers": {"django": {"handlers": [], "propagate": True}},
}
