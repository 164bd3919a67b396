"""The one settings module. Everything comes from environment variables (DESIGN §4).

Defaults are safe for `make run` (SQLite plus a filesystem broker) and strict in production:
a missing or malformed variable stops start-up with a message that names it.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

# Lets admin.ModelAdmin[Model] and friends be subscripted at run time, as the type stubs expect.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))

env = environ.Env()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, *, default: bool) -> bool:
    """Parse a boolean strictly: django-environ would read 'maybe' as False without a word."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"Environment variable {name}={raw!r} is not a boolean (use true or false).")


def env_int(name: str, *, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"Environment variable {name}={raw!r} is not a whole number.") from None


DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Environment variable SECRET_KEY is required when DEBUG is off.")
    SECRET_KEY = "insecure-dev-only-key-used-by-make-run"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
if not ALLOWED_HOSTS and not DEBUG:
    raise ImproperlyConfigured("Environment variable ALLOWED_HOSTS is required when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "core.api.http.csrf_failure"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "knox",
    "axes",
    "csp",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "theatre",
    "procedures",
    "scheduling",
    "fhir",
    "ui",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.api.http.ApiBodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "core.sessions.SessionTimeoutMiddleware",
    # Last, as django-axes requires: it answers a locked-out login on Django's own login views.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
try:
    DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
except (ImproperlyConfigured, KeyError, ValueError) as exc:
    raise ImproperlyConfigured(f"Environment variable DATABASE_URL is not a valid database URL: {exc}") from None
if DATABASES["default"].get("ENGINE") not in ("django.db.backends.postgresql", "django.db.backends.sqlite3"):
    raise ImproperlyConfigured("Environment variable DATABASE_URL must be a postgres:// or sqlite:/// URL.")
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Persistent connections: opening one costs a request 5-6 ms (issue 18), more than most queries.
# Off under DEBUG, where the development server runs every request on a new thread (a connection
# per thread would only pile up). A health check before a reused connection's first query keeps a
# restarted database or a dropped socket from failing a request. Celery workers are unaffected:
# Celery's Django fixup closes a worker's connections before and after every task.
DATABASES["default"]["CONN_MAX_AGE"] = env_int("CONN_MAX_AGE", default=0 if DEBUG else 60)
if DATABASES["default"]["CONN_MAX_AGE"] < 0:
    raise ImproperlyConfigured("Environment variable CONN_MAX_AGE must be 0 (close after each request) or more.")
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env_bool("CONN_HEALTH_CHECKS", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so two concurrent bookings queue behind each
    # other instead of one failing half-way with "database is locked" (Django 5.1+).
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
    VAR_DIR.mkdir(parents=True, exist_ok=True)
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A booking waits at most this long for a row lock; past it the service answers 409
    # instead of hanging the coordinator's browser.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("options", "-c lock_timeout=5000")
    # Parameters bound by the server, not quoted into the SQL by psycopg in Python, and a statement
    # the connection has run five times is prepared, so PostgreSQL stops parsing and planning it:
    # a booking went from 17-20 ms to 10-13 ms (bench/booking.py, issue 18). Off for a pooler
    # that cannot carry prepared statements (PgBouncer in transaction mode before 1.21).
    SERVER_SIDE_BINDING = env_bool("DB_SERVER_SIDE_BINDING", default=True)
    DATABASES["default"]["OPTIONS"]["server_side_binding"] = SERVER_SIDE_BINDING
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 5 if SERVER_SIDE_BINDING else None

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication (README "Security") ---------------------------------------------------------
# django-axes first: it refuses a locked-out username or address before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
# Lockout (ASVS V2.2.1): AXES_FAILURE_LIMIT failures for one username, or from one address, lock
# that username or address out for AXES_COOLOFF_MINUTES, whether or not the account exists.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_VERBOSE = False
# Behind the TLS proxy the client's address is in X-Forwarded-For (set AXES_IPWARE_PROXY_COUNT).
AXES_IPWARE_PROXY_COUNT = env_int("AXES_IPWARE_PROXY_COUNT", default=0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "core.api.auth.lockout_response"

# API tokens (django-rest-knox): stored hashed, one per device, expiring, revocable.
API_TOKEN_TTL_HOURS = env_int("API_TOKEN_TTL_HOURS", default=12)
# Members of this group are named service accounts (an integration, not a person): longer tokens.
API_SERVICE_ACCOUNT_GROUP = os.environ.get("API_SERVICE_ACCOUNT_GROUP", "service_account")
API_SERVICE_TOKEN_TTL_HOURS = env_int("API_SERVICE_TOKEN_TTL_HOURS", default=24 * 90)
REST_KNOX = {
    "TOKEN_TTL": dt.timedelta(hours=API_TOKEN_TTL_HOURS),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}
# Live tokens (devices) per user; a new login past it revokes that user's oldest (core/api/auth.py).
API_TOKENS_PER_USER = env_int("API_TOKENS_PER_USER", default=10)

# Browser sessions on a shared clinical workstation: out after SESSION_IDLE_MINUTES without a
# request, and after SESSION_ABSOLUTE_HOURS whatever (core/sessions.py); gone when the browser closes.
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", default=30)
SESSION_ABSOLUTE_HOURS = env_int("SESSION_ABSOLUTE_HOURS", default=10)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_HOURS * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Time ---------------------------------------------------------------------------------
# Storage is UTC; TIME_ZONE is only for display and the admin. Lists are planned in the
# site's own zone (theatre.Site.timezone, default Europe/London).
USE_TZ = True
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/London")
try:
    ZoneInfo(TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(f"Environment variable TIME_ZONE={TIME_ZONE!r} is not a known time zone.") from None
LANGUAGE_CODE = "en-gb"
USE_I18N = True

# The staff UI's own login page (ui/); an expired session comes back here with ?next=.
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- REST framework -----------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: DRF answers an anonymous request with the first class's WWW-Authenticate
    # challenge, so it gets 401 `not_authenticated` with `WWW-Authenticate: Token`, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.api.token_auth.TokenAuthentication",  # knox's, less a query (core/api/token_auth.py)
        "rest_framework.authentication.SessionAuthentication",
    ],
    # The expensive reads and the solver (availability, fill, candidates, reports): per user.
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.ScopedRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"expensive": os.environ.get("API_THROTTLE_EXPENSIVE", "60/minute")},
    # Default deny: authenticated AND holding one of the four roles (or superuser).
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.HasRole"],
    "DEFAULT_PAGINATION_CLASS": "core.api.filters.StrictPageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["core.api.filters.StrictFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exceptions.exception_handler",
    # JSON bodies only: one encoding to validate strictly (core/api/strict.py) and to document.
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.SafeJSONParser"],
    # OPTIONS names the view and its media types; the OpenAPI schema describes the fields.
    "DEFAULT_METADATA_CLASS": "core.api.metadata.MinimalMetadata",
    # `?format=` names one of the view's formats or is refused (an empty one too): the schema's enum.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.api.negotiation.ExactFormatNegotiation",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DATETIME_FORMAT": "iso-8601",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Theatre scheduling API",
    "DESCRIPTION": "Operating-theatre scheduling for balloon kyphoplasty and vertebroplasty lists.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    "COMPONENT_SPLIT_REQUEST": True,
    # The default hook, then the stateful links a created object's id opens (core/api/schema.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "core.api.schema.add_links"],
    # The schema and Swagger UI are behind the same default-deny rule as the API itself.
    "SERVE_PERMISSIONS": ["core.permissions.HasRole"],
    # Swagger UI's JavaScript from our own static files, not a CDN: a third-party script on the
    # API's origin could read patient records with the user's session.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # One schema name per choice set, so generated clients get stable enum types.
    "ENUM_NAME_OVERRIDES": {
        "EquipmentKindEnum": "theatre.models.EquipmentKind",
        "CapabilityEnum": "theatre.models.Capability",
        "StepKindEnum": "procedures.models.StepKind",
        "AnaesthesiaEnum": "procedures.models.Anaesthesia",
        "UnavailabilityReasonEnum": "scheduling.models.UnavailabilityReason",
    },
}

# A request body under /api/ longer than this is refused with 413 `too_large` before it is read.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", default=1_048_576)

# The throttle's counters (and django-axes' nothing: it keeps its own tables) live in a cache
# every web node shares: Redis when REDIS_URL is set, else the process's memory (make run).
_CACHE_URL = os.environ.get("REDIS_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _CACHE_URL}
        if _CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Celery -------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "") or REDIS_URL or "filesystem://"
CELERY_RESULT_BACKEND = (
    os.environ.get("CELERY_RESULT_BACKEND", "") or REDIS_URL or f"file://{VAR_DIR / 'celery-results'}"
)
if CELERY_BROKER_URL == "filesystem://":
    # The embedded broker for `make run`: kombu's filesystem transport needs no server.
    _broker_dir = VAR_DIR / "broker"
    for sub in ("queue", "processed"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
if CELERY_RESULT_BACKEND.startswith("file://"):
    Path(CELERY_RESULT_BACKEND.removeprefix("file://")).mkdir(parents=True, exist_ok=True)

# --- Email and SMS ------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "core.mail.OneFilePerMessageBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "outbox"))
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Spinal Theatre Bookings <theatres@localhost>")
SMS_BACKEND = os.environ.get("SMS_BACKEND", "scheduling.reminders.sms.FileSMSBackend")
SMS_FILE_PATH = os.environ.get("SMS_FILE_PATH", str(VAR_DIR / "sms-outbox"))

# --- Security (production profile: DEBUG off) ----------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Content-Security-Policy (django-csp): scripts, styles, images and fetches from this origin only,
# no inline script, no framing. The staff UI loads ES modules from /static/; Swagger UI loads its
# start-up script from a URL (SpectacularSwaggerSplitView) for the same reason.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Logging ------------------------------------------------------------------------------
# Logs carry ids and codes only, never patient identifiers.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Celery behaviour (the app itself lives in config/celery.py) ---------------------------
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
# A task that hangs must not hold a worker slot for ever; sending a reminder takes seconds.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", default=120)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", default=180)
# acks_late + reject_on_worker_lost: a message whose worker is SIGKILLed goes back on the
# queue. Tasks are idempotent (they check row state), so a redelivery is harmless.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# --- Reminders (scheduling/reminders/planning.py, scheduling/reminders/delivery.py) --------
# Policy, not clinical numbers (those live on the procedure version): when patients are asked to
# arrive, and how hard delivery tries before a row is marked failed.
REMINDER_ARRIVAL_MINUTES = env_int("REMINDER_ARRIVAL_MINUTES", default=60)  # arrive this long before the case
REMINDER_MAX_ATTEMPTS = env_int("REMINDER_MAX_ATTEMPTS", default=5)
REMINDER_RETRY_BASE_SECONDS = env_int("REMINDER_RETRY_BASE_SECONDS", default=30)
REMINDER_RETRY_MAX_SECONDS = env_int("REMINDER_RETRY_MAX_SECONDS", default=240)  # never more than a few minutes
# One sweep's time budget. Beat queues a sweep every 60 s; on a backlog every second of the minute
# in which no sweep runs is sending lost: 50 s left a sixth of each minute idle, 55 s a twelfth
# (bench/reminders.py shows the lateness). The 5 s left cover the next sweep's queueing and a last
# send; a sweep that overruns only overlaps the next one, which SKIP LOCKED makes harmless.
REMINDER_SWEEP_SECONDS = env_int("REMINDER_SWEEP_SECONDS", default=55)
REMINDER_SWEEP_PARALLEL = env_int("REMINDER_SWEEP_PARALLEL", default=4)  # sweeps run side by side on a backlog

# --- List fill (scheduling/list_fill.py) ------------------------------------------------------
# How long the fill's improving search may run per request. The pure core's own default (40 ms)
# is what its benchmark holds it to; a coordinator's preview can afford more, and a busy server's
# wall clock gives the search less than it would on a quiet one.
FILL_BUDGET_MS = env_int("FILL_BUDGET_MS", default=250)

# --- Theatre times and metrics (scheduling/theatre_times.py, scheduling/reports.py) ----------
# Model Hospital thresholds (DESIGN §5.2): a late start is a first touch more than 15 minutes
# after the list's start; an early finish a last patient out more than 30 minutes before its end;
# an overrun a last patient out more than 10 minutes after it.
THEATRE_LATE_START_MINUTES = env_int("THEATRE_LATE_START_MINUTES", default=15)
THEATRE_EARLY_FINISH_MINUTES = env_int("THEATRE_EARLY_FINISH_MINUTES", default=30)
THEATRE_OVERRUN_MINUTES = env_int("THEATRE_OVERRUN_MINUTES", default=10)
# Recording times: clocks in theatre disagree by a minute or two, so a time this far ahead of the
# server is accepted; a time further ahead is refused (400 time_in_future).
THEATRE_TIMES_FUTURE_TOLERANCE_MINUTES = env_int("THEATRE_TIMES_FUTURE_TOLERANCE_MINUTES", default=5)
# A recorded time must fall between the list's start less this (anaesthesia starts in the
# anaesthetic room before the list) and its end plus that (a long overrun, then recovery);
# outside it is a wrong date or an a.m./p.m. slip (400 outside_list_window).
THEATRE_TIMES_EARLIEST_BEFORE_START_MINUTES = env_int("THEATRE_TIMES_EARLIEST_BEFORE_START_MINUTES", default=120)
THEATRE_TIMES_LATEST_AFTER_END_MINUTES = env_int("THEATRE_TIMES_LATEST_AFTER_END_MINUTES", default=720)
# --- The WHO checklist (scheduling/checklist.py) ---------------------------------------------
# Sign in is accepted on the list's local date only, from this long before the list's start (the
# first patient is signed in in the anaesthetic room before the list begins); anything else needs
# a coordinator's override with a reason (DESIGN §5.8).
CHECKLIST_SIGN_IN_LEAD_MINUTES = env_int("CHECKLIST_SIGN_IN_LEAD_MINUTES", default=60)
for _name in (
    "CHECKLIST_SIGN_IN_LEAD_MINUTES",
    "THEATRE_LATE_START_MINUTES",
    "THEATRE_EARLY_FINISH_MINUTES",
    "THEATRE_OVERRUN_MINUTES",
    "THEATRE_TIMES_FUTURE_TOLERANCE_MINUTES",
    "THEATRE_TIMES_EARLIEST_BEFORE_START_MINUTES",
    "THEATRE_TIMES_LATEST_AFTER_END_MINUTES",
):
    if globals()[_name] < 0:
        raise ImproperlyConfigured(f"Environment variable {_name}={globals()[_name]} must not be negative.")
