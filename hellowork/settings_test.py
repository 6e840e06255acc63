"""Settings for the test suite: production settings with test-only values.

Tests run with DEBUG off, as production does; only what cannot work in a test process is
changed here (no HTTPS redirect, plain static storage, a throwaway secret key).
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("TASK_BACKEND", "immediate")
os.environ.setdefault("SITE_URL", "http://testserver")

from hellowork.settings import *  # noqa: E402, F403

STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
LANGUAGE_COOKIE_SECURE = False
# The admin tests sign in with force_login; the second factor is switched on by the tests
# of it (tests/test_staff_mfa.py), which also check that production has it on by default.
STAFF_MFA_REQUIRED = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
