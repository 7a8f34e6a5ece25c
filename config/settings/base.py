"""Accord settings. Every value comes from the environment with a safe default.

Defaults give the embedded set-up (SQLite under var/, django-q2 ORM broker). Production sets
DATABASE_URL (PostgreSQL), SECRET_KEY, ALLOWED_HOSTS and leaves DEBUG off. See README.md.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
DEMO_MODE = env.bool("ACCORD_DEMO", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "django_q",
    "django_htmx",
    "csp",
    "axes",
    "config",
    "cases",
    "slas",
    "governance",
    "connectors",
    "workspace",
    "reporting",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes requires.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

# An empty DATABASE_URL (`DATABASE_URL= make test`) means the default, as an unset one does.
DATABASES = {
    "default": env.db_url_config(
        env.str("DATABASE_URL", default="") or f"sqlite:///{VAR_DIR / 'accord.sqlite3'}"
    ),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and IMMEDIATE transactions let the web server and the worker share the file
    # without "database is locked" errors on write bursts.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's, inserting a few rows with VALUES rather than UNNEST (config/postgresql).
        DATABASES["default"]["ENGINE"] = "config.postgresql"
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "config.postgresql" and not env.bool("PG_JIT", default=False):
        # PostgreSQL's JIT compiles report queries whose estimates look large and spends more time
        # compiling than it saves on these plans (0.5 s seen on the dashboard's attainment panel).
        DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
    postgresql = DATABASES["default"]["ENGINE"] == "config.postgresql"
    if postgresql and env.bool("PG_SERVER_SIDE_BINDING", default=True):
        # Parameters travel apart from the SQL, and a statement run PG_PREPARE_THRESHOLD times on
        # a connection is prepared: PostgreSQL stops planning it again (an ingested message runs
        # the same 19 statements every time). 0 turns preparing off (a pooler in transaction
        # mode that cannot keep prepared statements); docs/decisions/0007.
        threshold = env.int("PG_PREPARE_THRESHOLD", default=5)
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            server_side_binding=True, prepare_threshold=threshold or None
        )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The WSGI server's garbage-collector tuning (config/collector.py): the first generation's threshold
# (CPython's default is 700); 0 leaves the collector as CPython sets it (and freezes nothing).
GC_GEN0_THRESHOLD = env.int("GC_GEN0_THRESHOLD", default=50_000)

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://accord")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "workspace:login"
LOGIN_REDIRECT_URL = "workspace:my-work"
LOGOUT_REDIRECT_URL = "workspace:login"

# Login lockout (django-axes): N failures for one user name from one address lock it out.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Files kept with cases (e-mail attachments): served only through the agent workspace, to those
# who may see the case; never under a public URL.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
ACCORD_ATTACHMENT_MAX_BYTES = env.int("ACCORD_ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
# Past versions are read only in admin (cases.admin_scoping): no Revert button.
SIMPLE_HISTORY_REVERT_DISABLED = True
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

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="accord@localhost")

# --- Security headers -------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# --- Background work (django-q2) -------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "accord",
    "workers": env.int("Q_WORKERS", default=2),
    "recycle": 500,
    # A task running longer than `timeout` is killed; one not acknowledged within `retry` is
    # handed out again (at-least-once). timeout < retry, always.
    "timeout": env.int("Q_TIMEOUT", default=120),
    "retry": env.int("Q_RETRY", default=180),
    "max_attempts": env.int("Q_MAX_ATTEMPTS", default=5),
    "catch_up": False,
    "save_limit": 1000,
    "label": "Tasks",
}
if REDIS_URL:
    # Faster, but a task taken by a worker that then crashes is lost (see README).
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = env.float("Q_POLL_SECONDS", default=1.0)

# --- API --------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # A client system's API key first (a bad key is a 401), then staff sessions (browsable API).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "cases.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Deny by default: each view lists per action what a caller needs (cases.api.permissions).
    "DEFAULT_PERMISSION_CLASSES": ["cases.api.permissions.RolePermission"],
    "DEFAULT_THROTTLE_CLASSES": ["cases.api.throttling.CallerRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["cases.api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "cases.api.schema.AccordAutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "cases.api.pagination.KeysetPagination",
    "EXCEPTION_HANDLER": "config.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Accord API",
    "DESCRIPTION": (
        "Cases, SLA clocks and governance for BPO contact centers. Client systems authenticate with "
        "`Authorization: Bearer <API key>`; every error is one `application/problem+json` envelope."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs are public (they hold no data); every resource needs credentials.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ChannelEnum": "cases.choices.Channel",
        "PriorityEnum": "cases.choices.Priority",
        "CaseStatusEnum": "cases.choices.CaseStatus",
        "CaseEventKindEnum": "cases.choices.CaseEventKind",
        "IdentityKindEnum": "cases.choices.IdentityKind",
        "ClockOutcomeEnum": "slas.models.Outcome",
        "ClockStateEnum": "slas.api.serializers.CLOCK_STATES",
        "SLAStateEnum": "slas.api.serializers.SLA_STATES",
        "BulkOutcomeEnum": "slas.api.serializers.BULK_OUTCOMES",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Accord -----------------------------------------------------------------------------------
# How long after its last activity an unresolved case still absorbs a customer's new contact,
# when the client sets no window of its own.
ACCORD_DEFAULT_CONTINUATION_HOURS = env.int("ACCORD_DEFAULT_CONTINUATION_HOURS", default=72)
ACCORD_SWEEP_BATCH_SIZE = env.int("ACCORD_SWEEP_BATCH_SIZE", default=10000)

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "plain"}
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # django-q logs every task it enqueues at INFO: one line per inbound message otherwise.
        "django-q": {"level": env.str("Q_LOG_LEVEL", default=LOG_LEVEL)},
        "axes": {"level": "WARNING"},
    },
}

# --- Connectors -------------------------------------------------------------------------------
# Inbound endpoint: largest accepted body, and how far X-Accord-Timestamp may be from now.
ACCORD_CONNECTOR_MAX_BODY_BYTES = env.int("ACCORD_CONNECTOR_MAX_BODY_BYTES", default=1_048_576)
ACCORD_CONNECTOR_SIGNATURE_TOLERANCE_SECONDS = env.int(
    "ACCORD_CONNECTOR_SIGNATURE_TOLERANCE_SECONDS", default=300
)
# After a rotation the previous signing secret stays valid this long.
ACCORD_CONNECTOR_SECRET_GRACE_HOURS = env.int("ACCORD_CONNECTOR_SECRET_GRACE_HOURS", default=24)
# An admin replay of more failed inbound events than this runs in the background, in tasks.
ACCORD_CONNECTOR_REPLAY_INLINE_MAX = env.int("ACCORD_CONNECTOR_REPLAY_INLINE_MAX", default=50)
# Outbound webhooks: seconds between attempts (8 attempts over about 27 h by default), request
# timeout, consecutive failures that pause a subscription, age after which an unsent row's task
# counts as lost, and whether http://127.0.0.1 / [::1] endpoints are allowed (local testing only).
ACCORD_WEBHOOK_RETRY_SCHEDULE = env.list(
    "ACCORD_WEBHOOK_RETRY_SCHEDULE", cast=int, default=[5, 300, 1800, 7200, 18000, 36000, 36000]
)
ACCORD_WEBHOOK_TIMEOUT_SECONDS = env.int("ACCORD_WEBHOOK_TIMEOUT_SECONDS", default=10)
ACCORD_WEBHOOK_PAUSE_AFTER_FAILURES = env.int("ACCORD_WEBHOOK_PAUSE_AFTER_FAILURES", default=20)
ACCORD_WEBHOOK_LOST_AFTER_SECONDS = env.int("ACCORD_WEBHOOK_LOST_AFTER_SECONDS", default=120)
ACCORD_WEBHOOKS_ALLOW_LOOPBACK = env.bool("ACCORD_WEBHOOKS_ALLOW_LOOPBACK", default=False)
# connectors.retention: processed raw inbound payloads, and the log of ended webhook deliveries
# (0 keeps them).
ACCORD_INBOUND_RETENTION_DAYS = env.int("ACCORD_INBOUND_RETENTION_DAYS", default=30)
ACCORD_WEBHOOK_LOG_RETENTION_DAYS = env.int("ACCORD_WEBHOOK_LOG_RETENTION_DAYS", default=90)
# IMAP polling: socket timeout, messages per poll, and a poller's lease on a mailbox.
ACCORD_IMAP_TIMEOUT_SECONDS = env.int("ACCORD_IMAP_TIMEOUT_SECONDS", default=30)
ACCORD_IMAP_BATCH_SIZE = env.int("ACCORD_IMAP_BATCH_SIZE", default=200)
ACCORD_IMAP_LEASE_SECONDS = env.int("ACCORD_IMAP_LEASE_SECONDS", default=300)

# --- API ----------------------------------------------------------------------------------------
# Requests per API key (a key's own rate overrides it) and per staff user: N/s, N/min, N/hour or
# N/day; "none" turns the limit off. Counted in CACHE_URL: use a shared cache (Redis) with several
# web processes, or each process counts on its own.
ACCORD_API_KEY_THROTTLE_RATE = env.str("API_KEY_THROTTLE_RATE", default="1200/min")
ACCORD_API_USER_THROTTLE_RATE = env.str("API_USER_THROTTLE_RATE", default="600/min")
# Largest API request body (bytes): larger is a 413. Also Django's in-memory body limit.
ACCORD_API_MAX_REQUEST_BYTES = env.int("API_MAX_REQUEST_BYTES", default=2_621_440)
DATA_UPLOAD_MAX_MEMORY_SIZE = ACCORD_API_MAX_REQUEST_BYTES
# How long an Idempotency-Key's first response is replayed.
ACCORD_API_IDEMPOTENCY_SECONDS = env.int("API_IDEMPOTENCY_SECONDS", default=86_400)
# Incremental export: rows changed within this margin of now (and, on PostgreSQL, after the start
# of the oldest writing transaction) wait for the next poll, so a late commit is never skipped.
ACCORD_API_EXPORT_SAFETY_SECONDS = env.float("API_EXPORT_SAFETY_SECONDS", default=5.0)

# --- Governance -------------------------------------------------------------------------------
# Weight of the newest message in a case's rolling sentiment (exponential moving average).
ACCORD_SENTIMENT_SMOOTHING = env.float("ACCORD_SENTIMENT_SMOOTHING", default=0.5)
# The catch-up task looks this far back for breaches, warnings, case events and messages that
# no live task evaluated, and takes at most this many of each kind per run.
ACCORD_GOVERNANCE_LOOKBACK_HOURS = env.int("ACCORD_GOVERNANCE_LOOKBACK_HOURS", default=48)
ACCORD_GOVERNANCE_CATCH_UP_LIMIT = env.int("ACCORD_GOVERNANCE_CATCH_UP_LIMIT", default=2000)
# SLA policy change what-if: replay the clocks of this many past days.
ACCORD_WHATIF_DAYS = env.int("ACCORD_WHATIF_DAYS", default=30)
