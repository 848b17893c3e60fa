"""Django settings, all read from the environment with safe defaults for local use."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from hub import keys
from hub.local_secrets import local_secret

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

VAR_DIR = Path(env("TRIBUTARY_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
# With DEBUG off both keys must come from the environment (hub/local_secrets.py refuses to generate them).
SECRET_KEY = env("SECRET_KEY", default=None) or local_secret(VAR_DIR, "SECRET_KEY", debug=DEBUG)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
FRONTEND_ORIGIN = env("FRONTEND_ORIGIN", default="http://127.0.0.1:8000")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[FRONTEND_ORIGIN])
# Comma-separated `id:base64key` pairs of 32-byte AES keys, newest first.
FIELD_ENCRYPTION_KEYS = env("FIELD_ENCRYPTION_KEYS", default=None) or local_secret(
    VAR_DIR, "FIELD_ENCRYPTION_KEYS", debug=DEBUG
)
# Tenant-supplied upstream URLs may reach private addresses only when this is on.
ALLOW_PRIVATE_UPSTREAMS = env.bool("ALLOW_PRIVATE_UPSTREAMS", default=False)
# Every attempt of an upstream request ends by this (connect, headers and whole body), and no body is read
# past this size; each connector may set its own (HAIILO_REQUEST_DEADLINE_SECONDS, HAIILO_MAX_BODY_BYTES, ...).
UPSTREAM_REQUEST_DEADLINE_SECONDS = env.float("UPSTREAM_REQUEST_DEADLINE_SECONDS", default=60.0)
UPSTREAM_MAX_BODY_BYTES = env.int("UPSTREAM_MAX_BODY_BYTES", default=50 * 1024 * 1024)
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
# Import paths ("package.module.Class" or "package.module:Class") of connectors beside the built-in ones.
EXTRA_CONNECTORS = env.list("EXTRA_CONNECTORS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles: `runserver` leaves static files to WhiteNoise, as production does.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "hub",
    "integrations",
    "webhooks",
    "console",
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
    "hub.errors.ApiErrorMiddleware",
]

ROOT_URLCONF = "hub.urls"
WSGI_APPLICATION = "hub.wsgi.application"
AUTH_USER_MODEL = "hub.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'tributary.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the file: WAL and immediate transactions avoid "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so a worker process can open the test database too.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-tributary.sqlite3")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns at start-up when it is missing
# WhiteNoise serves STATIC_ROOT (filled by `collectstatic`, as the Dockerfile does) with hashed,
# compressed names for far-future caching; under DEBUG it serves straight from the apps' folders.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# The default storage holds the files of knowledge entries: the filesystem under var/ unless another
# backend is configured (e.g. S3 through django-storages, set in STORAGES["default"]).
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# A file of a knowledge entry larger than this is not stored (skipped, with a line in the job's log).
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=25 * 1024 * 1024)

# Request bodies over this are refused with 413 (webhooks are bounded separately).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["hub.auth.OrgJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["hub.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "hub.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "hub.schema.ErrorAwareAutoSchema",
    "UNAUTHENTICATED_USER": None,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=30)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    # A key of its own, derived from SECRET_KEY: a token signed with SECRET_KEY itself is refused.
    "SIGNING_KEY": keys.derived_key_text(SECRET_KEY, keys.JWT_SIGNING),
    "ALGORITHM": "HS256",
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "UPDATE_LAST_LOGIN": False,
    # A refresh token works once: its use answers a new pair and blacklists it (token_blacklist app).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    # Tokens carry a fingerprint of the password hash: a password change ends them all.
    "CHECK_REVOKE_TOKEN": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Tributary API",
    "DESCRIPTION": "Knora's Integrations API, served by Tributary, plus Tributary's own endpoints.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The schema tells the truth (issue 10): error answers derived per operation, the plain views added.
    "DEFAULT_GENERATOR_CLASS": "hub.schema.TributarySchemaGenerator",
    "ENUM_NAME_OVERRIDES": {"ErrorCodeEnum": "hub.schema.ERROR_CODE_CHOICES"},
}

# Celery: Redis in production; an embedded filesystem broker (no server) by default.
BROKER_DIR = VAR_DIR / env("TRIBUTARY_BROKER_DIRNAME", default="broker")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
# Two queues (README "Queues"): long runs on RUNS_QUEUE, everything short (the reaper, the scheduler,
# pruning, pings) on the default one, so a sync never makes them wait. hub.queues routes by task name.
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="default")
RUNS_QUEUE = env("RUNS_QUEUE", default="runs")
CELERY_TASK_ROUTES = ("hub.queues.route_task",)
# Jobs of one organisation RUNNING at once; a further one waits (pending) so others get runs slots.
RUNS_PER_ORGANISATION_MAX = env.int("RUNS_PER_ORGANISATION_MAX", default=2)
# Slices of one pull (Haiilo entity types, Confluence spaces) fetched and mapped at once, each in a thread
# of the run's worker; entries are still written by the run's own thread (integrations/runs/slices.py).
RUN_MAX_CONCURRENT_SLICES = env.int("RUN_MAX_CONCURRENT_SLICES", default=4)
# Worker tasks one such pull is spread over (integrations/runs/spread.py): the run's own and
# RUN_SLICE_TASKS - 1 more, so the mapping uses the cores of more worker processes; 1 keeps it in one.
RUN_SLICE_TASKS = env.int("RUN_SLICE_TASKS", default=1)
# How long a worker's thread keeps the GIL while another waits for it (sys.setswitchinterval). With
# Python's 5 ms the run's thread, which writes every batch, waited about that long after each of its
# PostgreSQL round trips while slice threads mapped; with 1 ms a Haiilo sync went from 0.56-0.58 to
# 0.62-0.64 of its limit; with turns to compute 0.2 ms was faster again, and 0.05 ms again (Haiilo
# faster in each of three alternated pairs, Confluence the same; 0.02 ms slowed Confluence: README "Performance").
WORKER_SWITCH_INTERVAL_SECONDS = env.float("WORKER_SWITCH_INTERVAL_SECONDS", default=0.00005)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# A worker lost mid-task (SIGKILL, OOM, a lost node) leaves its message unacknowledged: it is delivered
# again, and the run engine's lease makes the second delivery a no-op while the job's lease is live.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Sync jobs (integrations.runs.jobs): a running job heartbeats at least every 10 s, also while it waits
# on an upstream; one silent for longer than this is resumed from its checkpoint by the reaper, and a
# job resumed SYNC_MAX_RESUMES times fails.
SYNC_HEARTBEAT_TIMEOUT_SECONDS = env.int("SYNC_HEARTBEAT_TIMEOUT_SECONDS", default=120)
SYNC_MAX_RESUMES = env.int("SYNC_MAX_RESUMES", default=3)
# Time limits of one task run, below the broker's visibility timeout (Redis delivers an unacknowledged
# message again after it): a task still running then would be run twice. A job stopped by the limit
# fails; its next run starts from its checkpoint.
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=6 * 3600)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=CELERY_TASK_TIME_LIMIT - 300)
BROKER_VISIBILITY_TIMEOUT = env.int("BROKER_VISIBILITY_TIMEOUT", default=CELERY_TASK_TIME_LIMIT + 3600)
# A retry's countdown (an upstream's Retry-After) is capped well below the visibility timeout too.
SYNC_RETRY_COUNTDOWN_MAX_SECONDS = env.int("SYNC_RETRY_COUNTDOWN_MAX_SECONDS", default=900)
CELERY_BEAT_SCHEDULE = {
    # Resumes (or fails) jobs whose worker stopped heartbeating; cheap when there are none.
    "reap-stale-sync-jobs": {"task": "integrations.reap_stale_sync_jobs", "schedule": 30.0},
    # Starts the runs due by their integration's `sync_interval_minutes` (integrations.runs.schedule).
    "start-due-runs": {"task": "integrations.start_due_runs", "schedule": 30.0},
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    for folder in ("queue", "processed", "results", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    # Kombu's transport with messages written whole before a worker can see them (hub/broker.py).
    CELERY_BROKER_TRANSPORT = "hub.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # Exchange bindings; kombu's default is ./control relative to the working directory.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.2,
    }
    CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=f"file://{BROKER_DIR / 'results'}")
    # The filesystem transport has no fanout exchange for remote control.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
else:
    CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL)
    # Set explicitly (kombu's default is one hour): see CELERY_TASK_TIME_LIMIT above.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": BROKER_VISIBILITY_TIMEOUT}
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": BROKER_VISIBILITY_TIMEOUT}
CELERY_RESULT_EXPIRES = timedelta(hours=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}

# A connector's own settings (timeouts, attempts, OAuth endpoints and client credentials, e.g.
# ATLASSIAN_*, HAIILO_*) are declared in its folder (connectors/<name>/settings.py) with their
# environment names and defaults, and read at call time: a Django setting of that name wins.
# OAUTH_PROVIDERS ({provider: {authorize_url, token_url, client_id, client_secret, scopes}}) may be set
# in a site's settings for connectors using the generic OAuth2AuthorizationCode.
OAUTH_STATE_TTL_SECONDS = 600

# OAuth (issue 10, oauth part): pending grants past their window and used or expired states are deleted.
CELERY_BEAT_SCHEDULE["delete-oauth-leftovers"] = {"task": "integrations.delete_oauth_leftovers", "schedule": 300.0}

# --- issue 10, auth part: rate limits, refresh-token blacklist, cache, HTTPS behind a proxy ---
INSTALLED_APPS += ["rest_framework_simplejwt.token_blacklist"]

# Login per client IP and per email; the API per user. "<number>/<s|min|hour|day>".
AUTH_LOGIN_RATE = env("AUTH_LOGIN_RATE", default="10/min")
API_USER_RATE = env("API_USER_RATE", default="1200/min")
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["hub.throttles.ApiUserThrottle"]
# Proxies in front of the hub whose X-Forwarded-For is trusted for the client IP (0: REMOTE_ADDR only,
# so a client cannot pick its own IP; behind one load balancer, 1).
REST_FRAMEWORK["NUM_PROXIES"] = env.int("NUM_PROXIES", default=0)

# Throttle counters live in the cache: Redis when REDIS_URL is set or the broker is Redis (shared by
# every process), local memory otherwise (per process: fine for one process, `make run` and tests).
REDIS_URL = env("REDIS_URL", default="") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""
)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="tributary"),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="tributary"),
        }
    }

CELERY_BEAT_SCHEDULE["flush-expired-refresh-tokens"] = {"task": "hub.flush_expired_refresh_tokens", "schedule": 3600.0}

# HTTPS, for `manage.py check --deploy` (docs/security/auth.md lists the production values). Behind a
# TLS-terminating proxy, SECURE_PROXY_SSL_HEADER names the header it sets (X-Forwarded-Proto: https).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# Probes (kubelet, compose, load balancers) call these over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
if _proxy_ssl_header := env("SECURE_PROXY_SSL_HEADER", default=""):
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")

# --- Hostile input (issue 10, part "input"): every JSON answer goes through a renderer that cleans
# what UTF-8 cannot encode (upstream text in action results, rows stored before the write rule).
REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] = ["hub.renderers.CleaningJSONRenderer"]

# Webhooks (issue 10, webhooks part): receive throttle per integration, secret rotation overlap,
# and the beat task that prunes delivery records older than the replay window.
WEBHOOK_RECEIVE_RATE = env("WEBHOOK_RECEIVE_RATE", default="6000/min")
for _rate_name in ("AUTH_LOGIN_RATE", "API_USER_RATE", "WEBHOOK_RECEIVE_RATE"):
    if not re.fullmatch(r"[0-9]+/(s|sec|m|min|h|hour|d|day)", globals()[_rate_name]):
        raise ImproperlyConfigured(f"{_rate_name} must look like 10/min (a number, then s, min, hour or day).")
WEBHOOK_SECRET_OVERLAP_HOURS = env.float("WEBHOOK_SECRET_OVERLAP_HOURS", default=24)
CELERY_BEAT_SCHEDULE["prune-webhook-deliveries"] = {"task": "webhooks.prune_deliveries", "schedule": 300.0}

# --- The hub's own dependencies restarted mid-run (issue 14, H3) ---
# Each use of a kept database connection first checks it still answers (a PostgreSQL restart leaves
# dead ones behind; matters once CONN_MAX_AGE keeps connections). A run whose connection is lost
# mid-run waits for the database and resumes from its checkpoint (integrations/runs/engine.py).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A pending job untouched for longer than this lost its task (Redis keeps no queue over a restart):
# the reaper enqueues it again. Above the longest retry countdown, so a job waiting for its retry is
# not sent early.
SYNC_PENDING_TIMEOUT_SECONDS = env.int(
    "SYNC_PENDING_TIMEOUT_SECONDS", default=SYNC_RETRY_COUNTDOWN_MAX_SECONDS + SYNC_HEARTBEAT_TIMEOUT_SECONDS
)
# A worker whose broker went away keeps trying to reconnect (Celery's default gives up after 100
# tries and the worker exits); the run it was executing carries on meanwhile.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None

# Sync history (issue 14): finished jobs older than SYNC_HISTORY_DAYS are deleted by a beat task,
# keeping at least the SYNC_HISTORY_KEEP_MIN latest of each integration (integrations.runs.history).
SYNC_HISTORY_DAYS = env.int("SYNC_HISTORY_DAYS", default=90)
SYNC_HISTORY_KEEP_MIN = 20
CELERY_BEAT_SCHEDULE["prune-sync-history"] = {"task": "integrations.prune_sync_history", "schedule": 3600.0}
