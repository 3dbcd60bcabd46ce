"""Test settings: production settings (DEBUG off) with test-only secrets and storage."""

import os
import tempfile

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-" + "k" * 40)
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
# WebsocketCommunicator tests send the test client's origin.
os.environ.setdefault("DJANGO_ALLOWED_ORIGINS", "http://testserver")
os.environ.setdefault("WORKSPACE_DATA_DIR", tempfile.mkdtemp(prefix="workspace-test-"))

from workspace.settings import *  # noqa: E402,F403
from workspace.settings import STORAGES  # noqa: E402

# The owner's credentials stay in this process (the test database is created and migrated
# with them, tests/conftest.py); the processes tests start (daphne, the backup drill) run
# against databases of their own or as the application, like the real services.
os.environ.pop("DATABASE_OWNER_URL", None)

# Plain static storage: the hashed manifest needs collectstatic, which tests don't run.
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# The test client speaks plain HTTP; tests/accounts/test_security_headers.py turns this
# back on to check the redirect itself.
SECURE_SSL_REDIRECT = False
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Per process (pytest-xdist workers inherit the environment, so not from WORKSPACE_*).
MEDIA_ROOT = tempfile.mkdtemp(prefix="workspace-test-media-")
# A file-based SQLite test database, so a real daphne in tests/e2e can share it.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"workspace-test-{os.getpid()}.sqlite3")
    }
# In-process socket tests run each test on its own event loop against a test database
# that is dropped at the end: the sockets' database work stays on Channels' one thread.
# The pool (messaging/dbthreads.py) runs in every real daphne of tests/integration.
MESSAGING_DB_THREADS = 1

# pytest-xdist workers share REDIS_URL's database: each keeps its cache under its own
# prefix, and tests/conftest.py clears only that prefix there (RedisCache.clear() is
# FLUSHDB, which emptied another worker's rate-limit counters mid-test).
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if XDIST_WORKER and CACHES["default"]["BACKEND"].endswith("RedisCache"):  # noqa: F405
    CACHES["default"]["KEY_PREFIX"] = f"test-{XDIST_WORKER}"  # noqa: F405

# The test process keeps CPython's collector (workspace/gc_tuning.py is for daphne).
WORKSPACE_GC_THRESHOLD = 0
