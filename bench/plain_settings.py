"""Settings for the baseline server: the same project with one plain receiving view added."""

from workspace.settings import *  # noqa: F403

ROOT_URLCONF = "bench.plain_urls"
