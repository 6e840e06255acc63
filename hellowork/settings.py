"""Settings for the Hello Work online counselling reservation portal.

Everything that differs between a laptop, CI and production is read from the environment
(django-environ). Development defaults are safe; production (DEBUG off) refuses to start
without a real SECRET_KEY.
"""

from pathlib import Path

import environ
from django.conf.locale import LANG_INFO
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (set DEBUG=1 for local development)."
        )
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[SITE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_tasks_db",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "reservations",
    "consent",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "reservations.middleware.PermissionsPolicyMiddleware",
    # Before anything reads the path, a cookie or the body (sessions, CSRF, views).
    "reservations.middleware.RequestHygieneMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "hellowork.middleware.SeekerLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The second factor (django-otp): request.user.is_verified(); staff without it see
    # only the code page (reservations/admin/mfa.py) while STAFF_MFA_REQUIRED is on.
    "django_otp.middleware.OTPMiddleware",
    "reservations.admin.mfa.StaffMFAMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A database outage in a view is a 503 with Retry-After, not the 500 page.
    "reservations.middleware.DatabaseOutageMiddleware",
    # Last, so that a locked-out login is answered before the view runs.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "hellowork.urls"
WSGI_APPLICATION = "hellowork.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "reservations.context_processors.office",
                "reservations.context_processors.booking_rules",
                "reservations.admin.scope.staff_offices",
                "consent.context_processors.terms_notice",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait for a writer rather than failing at once; IMMEDIATE makes every transaction
    # take the write lock up front, which serialises bookings on SQLite.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Only staff sign in, always through the admin: a refused `next` lands on its index, not
# on Django's default /accounts/profile/ (which does not exist here).
LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "admin:index"

AUTHENTICATION_BACKENDS = [
    "reservations.staff_login.LoginDelayBackend",
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Staff logins (reservations/staff_login.py): lock an account/address pair after repeated
# failures; slow down failures spread over many addresses or names. The address is the one
# the rest of the site uses (TRUSTED_PROXY_COUNT), never a header a client can forge.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 1  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_CLIENT_IP_CALLABLE = "reservations.staff_login.client_ip"
AXES_USERNAME_CALLABLE = "reservations.staff_login.username"
AXES_LOCKOUT_CALLABLE = "reservations.staff_login.lockout"  # Japanese, in the admin's layout
# Trying again while locked or waiting neither counts nor prolongs it: the real user
# retrying must not be punished for a stranger's guesses.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
LOGIN_USERNAME_FREE_FAILURES = env.int("LOGIN_USERNAME_FREE_FAILURES", default=10)
LOGIN_ADDRESS_FREE_FAILURES = env.int("LOGIN_ADDRESS_FREE_FAILURES", default=20)
LOGIN_MAX_DELAY_SECONDS = env.int("LOGIN_MAX_DELAY_SECONDS", default=900)
# Staff sign in with password + a code from an authenticator app (TOTP) or a recovery code;
# on by default in production, off in development unless asked for.
STAFF_MFA_REQUIRED = env.bool("STAFF_MFA_REQUIRED", default=not DEBUG)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Hello Work reservations")

# Japanese first; every user-facing string goes through gettext. Each language is named in
# itself and never translated: the switch must be readable by the person who needs it.
# Easy Japanese (やさしい日本語) is Japanese with a private-use subtag (see hellowork/languages.py).
LANGUAGE_CODE = "ja"
LANGUAGES = [
    ("ja", "日本語"),
    ("en", "English"),
    ("pt-br", "Português"),
    ("vi", "Tiếng Việt"),
    ("tl", "Tagalog"),
    ("es", "Español"),
    ("zh-hans", "中文"),
    ("ja-x-easy", "やさしいにほんご"),
]
# Django's table of languages knows neither Tagalog nor Easy Japanese; what asks it
# (get_language_info, the admin's statistics) learns them here.
LANG_INFO.setdefault(
    "tl", {"bidi": False, "code": "tl", "name": "Tagalog", "name_local": "Tagalog"}
)
LANG_INFO.setdefault(
    "ja-x-easy",
    {"bidi": False, "code": "ja-x-easy", "name": "Easy Japanese", "name_local": "やさしいにほんご"},
)
# locale/: the portal's catalogues (makemessages writes there). hellowork/locale/: Django's
# own texts a seeker can see (weekday and month names, form errors) in the languages Django
# ships no catalogue for (Tagalog); without it they would fall back to Japanese.
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "hellowork" / "locale"]
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # The same backend, without a new Redis client for every call (hellowork/cache.py).
    CACHES["default"]["BACKEND"] = "hellowork.cache.RedisCache"

# Mail through Django's MAILERS (the EMAIL_* settings are deprecated). The environment keeps
# EMAIL_URL (consolemail:// in development; smtp://user:pass@host:25, smtp+tls://…:587 or
# smtp+ssl://…:465 in production) and EMAIL_TIMEOUT, which bounds every SMTP conversation so
# that a stuck mail server cannot hold a worker (the send is retried later).
_email = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
_mailer_options: dict = {}
if _email["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend":
    _mailer_options = {
        "host": _email["EMAIL_HOST"] or "localhost",
        "port": _email["EMAIL_PORT"],
        "username": _email["EMAIL_HOST_USER"] or None,
        "password": _email["EMAIL_HOST_PASSWORD"] or None,
        "use_tls": bool(_email.get("EMAIL_USE_TLS")),
        "use_ssl": bool(_email.get("EMAIL_USE_SSL")),
        "timeout": env.int("EMAIL_TIMEOUT", default=10),
    }
elif _email["EMAIL_BACKEND"] == "django.core.mail.backends.filebased.EmailBackend":
    _mailer_options = {"file_path": "/" + _email["EMAIL_FILE_PATH"]}
MAILERS = {"default": {"BACKEND": _email["EMAIL_BACKEND"], "OPTIONS": _mailer_options}}
# `make demo` (DEBUG only): each email a readable text file in DEMO_MAIL_DIR instead.
DEMO_MAIL_DIR = env.str("DEMO_MAIL_DIR", default="") if DEBUG else ""
if DEMO_MAIL_DIR:
    MAILERS = {
        "default": {
            "BACKEND": "reservations.demo_mail.DemoMailBackend",
            "OPTIONS": {"directory": DEMO_MAIL_DIR},
        }
    }
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="noreply@hellowork-isesaki.example.jp")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Tasks: rows in the database, enqueued in the same transaction as the state change.
TASK_BACKEND = env.str("TASK_BACKEND", default="database")
if TASK_BACKEND not in ("database", "immediate"):
    raise ImproperlyConfigured("TASK_BACKEND must be 'database' or 'immediate'.")
TASKS = {
    "default": {
        "BACKEND": (
            "django_tasks_db.DatabaseBackend"
            if TASK_BACKEND == "database"
            else "django.tasks.backends.immediate.ImmediateBackend"
        ),
    }
}
TASK_MAX_ATTEMPTS = env.int("TASK_MAX_ATTEMPTS", default=12)
# A failed attempt is retried after base·2^(n-1) seconds, at most TASK_RETRY_MAX_SECONDS.
TASK_RETRY_BASE_SECONDS = env.float("TASK_RETRY_BASE_SECONDS", default=30.0)
TASK_RETRY_MAX_SECONDS = env.float("TASK_RETRY_MAX_SECONDS", default=3600.0)
# A task still "running" this long after it started belongs to a worker that died: run it
# again. Every task is bounded by ZOOM_TIMEOUT / EMAIL_TIMEOUT, far below this.
TASK_LEASE_SECONDS = env.float("TASK_LEASE_SECONDS", default=300.0)

# Zoom (Server-to-Server OAuth). Without an account id, Zoom bookings wait for staff.
ZOOM_ACCOUNT_ID = env.str("ZOOM_ACCOUNT_ID", default="")
ZOOM_CLIENT_ID = env.str("ZOOM_CLIENT_ID", default="")
ZOOM_CLIENT_SECRET = env.str("ZOOM_CLIENT_SECRET", default="")
ZOOM_HOST_USER = env.str("ZOOM_HOST_USER", default="me")
# Meeting creates and updates asked of one host user per UTC day; Zoom stops at about 100.
ZOOM_HOST_DAILY_LIMIT = env.int("ZOOM_HOST_DAILY_LIMIT", default=90)
ZOOM_API_BASE_URL = env.str("ZOOM_API_BASE_URL", default="https://api.zoom.us/v2")
ZOOM_OAUTH_URL = env.str("ZOOM_OAUTH_URL", default="https://zoom.us/oauth/token")
ZOOM_TIMEOUT = env.float("ZOOM_TIMEOUT", default=10.0)
ZOOM_WEBHOOK_SECRET_TOKEN = env.str("ZOOM_WEBHOOK_SECRET_TOKEN", default="")

# Personal data of finished bookings is erased after this many days (rule 15).
RETENTION_DAYS = env.int("RETENTION_DAYS", default=365)

# Request-form rate limits (per IP and per 求職番号), requests per hour.
REQUEST_RATE_LIMIT_PER_IP = env.int("REQUEST_RATE_LIMIT_PER_IP", default=20)
REQUEST_RATE_LIMIT_PER_SEEKER = env.int("REQUEST_RATE_LIMIT_PER_SEEKER", default=5)
# How many reverse proxies of ours append to X-Forwarded-For (0: use REMOTE_ADDR as is).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Monitoring (hellowork/health.py): /metrics answers these addresses or networks, or a
# request carrying "Authorization: Bearer <METRICS_TOKEN>"; anyone else gets a 404.
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# /readyz answers 503 when a due task has waited longer than this, or an email is unsent
# this many minutes after it was queued.
READYZ_MAX_TASK_AGE_SECONDS = env.int("READYZ_MAX_TASK_AGE_SECONDS", default=600)
READYZ_UNSENT_EMAIL_MINUTES = env.int("READYZ_UNSENT_EMAIL_MINUTES", default=30)

# Request bodies: the largest honest one is a terms version typed into the admin (about
# 10 kB of text today); seekers' forms are a few kB and about 30 fields, Zoom's webhook
# events well under 64 kB. Anything larger is refused before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=256 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("DATA_UPLOAD_MAX_NUMBER_FIELDS", default=400)
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
DATA_UPLOAD_MAX_NUMBER_FILES = 5

# Security headers. Content Security Policy: nothing from outside, no inline script.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Monitoring asks the app server directly (plain HTTP on loopback).
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

# Logs carry no personal data (rule 15): references and ids only.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"private_links": {"()": "reservations.log_filters.PrivateLinkFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["private_links"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Django's own loggers go through the same filtered handler, never around it.
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
    },
}
if DEMO_MAIL_DIR:
    # The demo's worker says one line per task (reservations.worker), not three.
    for _logger in ("django.tasks", "reservations.mail"):
        LOGGING["loggers"][_logger] = {"handlers": [], "level": "WARNING", "propagate": True}
