"""TFactory settings, built from environment variables.

Defaults need nothing installed: SQLite in WAL mode under $TFACTORY_HOME, the
django-q2 ORM broker, offline engines, the bubblewrap sandbox when available.
"""

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str = "False") -> bool:
    return os.getenv(name, default).strip().lower() in ("1", "true", "yes", "on")


def envint(name: str, default: str) -> int:
    return int(os.getenv(name, default))


def envsecret(name: str, default: str | None = None) -> str | None:
    """Read a secret from NAME, or from the file named by NAME_FILE."""
    if value := os.getenv(name):
        return value
    if path := os.getenv(f"{name}_FILE"):
        return Path(path).read_text().strip()
    return default


TFACTORY_HOME = Path(os.getenv("TFACTORY_HOME", "~/.tfactory")).expanduser().resolve()
# Tool environments and cached project environments outlive any one TFACTORY_HOME
# (tests use a fresh home each, but should not rebuild Pynguin every time).
TFACTORY_CACHE_DIR = (
    Path(os.getenv("TFACTORY_CACHE_DIR", str(TFACTORY_HOME / "cache"))).expanduser().resolve()
)
# Where AIFactory keeps its spec folders: {root}/{project_id}/specs/{spec_id}/
TFACTORY_AIFACTORY_ROOT = (
    Path(os.getenv("TFACTORY_AIFACTORY_ROOT", "~/.aifactory/workspaces")).expanduser().resolve()
)
# auto | docker | bwrap | none; auto: Docker when a daemon answers, else bubblewrap
TFACTORY_SANDBOX = os.getenv("TFACTORY_SANDBOX", "auto")
# variables of TFactory's own environment a project's .tfactory.yml may pass to its tests
# (tests.pass_env); none unless the operator lists them here
TFACTORY_PASS_ENV = [n.strip() for n in os.getenv("TFACTORY_PASS_ENV", "").split(",") if n.strip()]
TFACTORY_SANDBOX_MEMORY_MB = envint("TFACTORY_SANDBOX_MEMORY_MB", "4096")
TFACTORY_SANDBOX_FILE_MB = envint("TFACTORY_SANDBOX_FILE_MB", "1024")
TFACTORY_SANDBOX_PIDS = envint("TFACTORY_SANDBOX_PIDS", "512")
# Seconds of engine search per changed module, and the whole functional lane's budget.
TFACTORY_ENGINE_BUDGET_S = envint("TFACTORY_ENGINE_BUDGET_S", "60")
TFACTORY_LANE_BUDGET_S = envint("TFACTORY_LANE_BUDGET_S", "600")
TFACTORY_TEST_TIMEOUT_S = envint("TFACTORY_TEST_TIMEOUT_S", "30")
# Engine runs at once (each is one sandboxed process); default: the machine's cores.
TFACTORY_ENGINE_WORKERS = envint("TFACTORY_ENGINE_WORKERS", str(os.cpu_count() or 1))
TFACTORY_EVAL_RUNS = envint("TFACTORY_EVAL_RUNS", "3")
# The mutation lane: on by default; its time budget, the most mutants it tests per task
# (the rest are reported as Ignored), children at once, and each mutant's time limit:
# FACTOR x the covering tests' measured time + TIMEOUT_S.
# A model provider ("anthropic" or "openai" for any OpenAI-compatible endpoint); empty:
# offline engines only. The key is read from the environment variable named here.
TFACTORY_LLM_PROVIDER = os.getenv("TFACTORY_LLM_PROVIDER", "")
TFACTORY_LLM_MODEL = os.getenv("TFACTORY_LLM_MODEL", "")
TFACTORY_LLM_BASE_URL = os.getenv("TFACTORY_LLM_BASE_URL", "")
TFACTORY_LLM_API_KEY_ENV = os.getenv("TFACTORY_LLM_API_KEY_ENV", "")
TFACTORY_LLM_TIMEOUT_S = float(os.getenv("TFACTORY_LLM_TIMEOUT_S", "120"))
TFACTORY_LLM_MAX_RETRIES = envint("TFACTORY_LLM_MAX_RETRIES", "3")
# per task: token and cost caps, and the prices (USD per million tokens) usage is costed at
TFACTORY_LLM_MAX_TOKENS = envint("TFACTORY_LLM_MAX_TOKENS", "2000000")
TFACTORY_LLM_BUDGET_USD = float(os.getenv("TFACTORY_LLM_BUDGET_USD", "5.0"))
TFACTORY_LLM_PRICE_IN = float(os.getenv("TFACTORY_LLM_PRICE_IN", "3.0"))
TFACTORY_LLM_PRICE_OUT = float(os.getenv("TFACTORY_LLM_PRICE_OUT", "15.0"))
# per call: the most tokens the model may answer with
TFACTORY_LLM_MAX_OUTPUT_TOKENS = envint("TFACTORY_LLM_MAX_OUTPUT_TOKENS", "8192")
# subtasks generated at once (model calls wait on the network, not on the cores)
TFACTORY_LLM_CONCURRENCY = envint("TFACTORY_LLM_CONCURRENCY", "4")
# a candidate the guards reject goes back to its generator: at most this many times per
# subtask, and this many times over the whole task
TFACTORY_LLM_REPLANS_PER_SUBTASK = envint("TFACTORY_LLM_REPLANS_PER_SUBTASK", "2")
TFACTORY_LLM_REPLANS_PER_TASK = envint("TFACTORY_LLM_REPLANS_PER_TASK", "10")
# extra generation rounds fed with the changed lines still uncovered and the mutants
# still surviving after evaluation
TFACTORY_LLM_FEEDBACK_ROUNDS = envint("TFACTORY_LLM_FEEDBACK_ROUNDS", "1")
# how many times the judge rates each test's relevance (the median counts)
TFACTORY_LLM_JUDGE_VOTES = envint("TFACTORY_LLM_JUDGE_VOTES", "3")
# in model mode, also run the offline engines (regression tests beside the spec's)
TFACTORY_LLM_WITH_ENGINES = envbool("TFACTORY_LLM_WITH_ENGINES", "False")
TFACTORY_MUTATION = envbool("TFACTORY_MUTATION", "True")
TFACTORY_MUTATION_BUDGET_S = envint("TFACTORY_MUTATION_BUDGET_S", "900")
TFACTORY_MUTATION_MAX_MUTANTS = envint("TFACTORY_MUTATION_MAX_MUTANTS", "1000")
TFACTORY_MUTATION_WORKERS = envint("TFACTORY_MUTATION_WORKERS", str(os.cpu_count() or 1))
TFACTORY_MUTATION_TIMEOUT_FACTOR = float(os.getenv("TFACTORY_MUTATION_TIMEOUT_FACTOR", "2.0"))
TFACTORY_MUTATION_TIMEOUT_S = float(os.getenv("TFACTORY_MUTATION_TIMEOUT_S", "1.0"))
# The security lanes (agents_app/lanes/security): each can be switched off here or per task.
TFACTORY_SAST = envbool("TFACTORY_SAST", "True")
TFACTORY_DEPS = envbool("TFACTORY_DEPS", "True")
TFACTORY_SECRETS = envbool("TFACTORY_SECRETS", "True")
TFACTORY_SAST_TIMEOUT_S = envint("TFACTORY_SAST_TIMEOUT_S", "600")
# another local Semgrep rule folder or file instead of our own pack (never a registry config)
TFACTORY_SEMGREP_RULES = os.getenv("TFACTORY_SEMGREP_RULES", "")
TFACTORY_SECRETS_MAX_COMMITS = envint("TFACTORY_SECRETS_MAX_COMMITS", "500")
# Advisories: the OSV API when it answers ("off" never asks it), else the offline OSV
# database (a folder of OSV records or an ecosystem zip); the default is the PyPA snapshot
# in ../shared/data when it is there.
TFACTORY_OSV_API_URL = os.getenv("TFACTORY_OSV_API_URL", "https://api.osv.dev")
_SHARED_OSV = BASE_DIR.parent / "shared" / "data" / "osv-pypi"
TFACTORY_OSV_DB = os.getenv("TFACTORY_OSV_DB", str(_SHARED_OSV) if _SHARED_OSV.is_dir() else "")
TFACTORY_OSV_TIMEOUT_S = float(os.getenv("TFACTORY_OSV_TIMEOUT_S", "10"))
# A running stage refreshes its heartbeat this often; the reaper fails tasks whose
# heartbeat is older than TFACTORY_STALE_AFTER_S.
TFACTORY_HEARTBEAT_S = envint("TFACTORY_HEARTBEAT_S", "10")
TFACTORY_STALE_AFTER_S = envint("TFACTORY_STALE_AFTER_S", "300")
# Transports for repositories TFactory clones itself (AIFactory's ingest with a git_url):
# any of https, ssh, git, http, file. file (file:// and host paths) reads the host's disk.
TFACTORY_GIT_PROTOCOLS = [
    p.strip() for p in os.getenv("TFACTORY_GIT_PROTOCOLS", "https,ssh,git").split(",") if p.strip()
]
# Where people reach this TFactory in a browser; links in tool answers point here.
TFACTORY_PUBLIC_URL = os.getenv("TFACTORY_PUBLIC_URL", "http://localhost:8000").rstrip("/")

# Delivery (agents_app/stages/deliver/): the accepted tests are committed on the feature branch
# by this author (a project may set its own), pushed where the project has a push remote,
# and the report is posted on the branch's pull request through the GitHub REST API with
# the token in the variable named here (never in a file, an argument or a log), or
# through a logged-in `gh` when that variable is unset. TFACTORY_DELIVERY=false turns
# the whole stage off for this installation.
TFACTORY_DELIVERY = envbool("TFACTORY_DELIVERY", "True")
TFACTORY_COMMIT_AUTHOR_NAME = os.getenv("TFACTORY_COMMIT_AUTHOR_NAME", "TFactory")
TFACTORY_COMMIT_AUTHOR_EMAIL = os.getenv("TFACTORY_COMMIT_AUTHOR_EMAIL", "tfactory@localhost")
TFACTORY_GITHUB_API_URL = os.getenv("TFACTORY_GITHUB_API_URL", "https://api.github.com")
TFACTORY_GITHUB_TOKEN_ENV = os.getenv("TFACTORY_GITHUB_TOKEN_ENV", "GITHUB_TOKEN")
TFACTORY_GITHUB_GH = envbool("TFACTORY_GITHUB_GH", "True")
TFACTORY_GITHUB_TIMEOUT_S = float(os.getenv("TFACTORY_GITHUB_TIMEOUT_S", "20"))
# server errors and timeouts are tried again this many times, waiting BACKOFF_S, 2x, 4x…
TFACTORY_GITHUB_RETRIES = envint("TFACTORY_GITHUB_RETRIES", "2")
TFACTORY_GITHUB_BACKOFF_S = float(os.getenv("TFACTORY_GITHUB_BACKOFF_S", "1.0"))

TFACTORY_HOME.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    if key := envsecret("SECRET_KEY"):
        return key
    # A per-installation key kept beside the database, never in the repository.
    key_file = TFACTORY_HOME / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = envbool("DEBUG", "False")
ALLOWED_HOSTS = [h for h in os.getenv("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h]

INSTALLED_APPS = [
    # daphne first: its runserver serves HTTP and the portal's websockets (ASGI)
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "channels",
    "django_htmx",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "tasks_app",
    "agents_app",
    "findings_app",
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
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "tfactory.urls"

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

WSGI_APPLICATION = "tfactory.wsgi.application"
ASGI_APPLICATION = "tfactory.asgi.application"

# Live updates: with REDIS_URL a cross-process channel layer (channels_redis) carries a
# nudge from the worker that wrote an event to the browsers watching its task; without
# one, the portal's consumer polls the event table.
REDIS_URL = os.getenv("REDIS_URL", "")
CHANNEL_LAYERS = (
    {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
    if REDIS_URL
    else {}
)
# The consumer reads the table this often without a cross-process layer, and with one
# this often in case a nudge was lost (a lost nudge delays rows by at most that).
TFACTORY_LIVE_POLL_S = float(os.getenv("TFACTORY_LIVE_POLL_S", "0.25"))
TFACTORY_LIVE_SAFETY_S = float(os.getenv("TFACTORY_LIVE_SAFETY_S", "5"))

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "tasks"
LOGOUT_REDIRECT_URL = "login"

if os.getenv("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.getenv("TFACTORY_DB_PATH", str(TFACTORY_HOME / "tfactory.sqlite3")),
            "OPTIONS": {
                # WAL lets the portal read while a worker writes; IMMEDIATE takes the
                # write lock at BEGIN so two writers queue on the busy timeout instead
                # of failing with "database is locked" halfway through a transaction.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = TFACTORY_HOME / "static"
# The portal's static files (its stylesheet and script, htmx from django-htmx, the
# admin's) are served by whitenoise under daphne. It finds them where they live, as
# runserver does, so a checkout serves them without collectstatic; plain (not manifest)
# storage, so {% static %} needs no collected manifest either.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns at start-up when it is missing

# The REST API (tasks_app/web/api): token auth ("Bearer <key>" or "Token <key>"; keys from
# `manage.py api_token`), JSON in and out, one error body ({"detail", "errors"}) for all.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tasks_app.web.api.auth.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # report.md is served as text/markdown by its view itself; everything else is JSON
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["tasks_app.web.api.errors.JSONObjectParser"],
    "EXCEPTION_HANDLER": "tasks_app.web.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # ?format= is the report endpoint's own parameter (json | md), not DRF's override
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "TFactory API",
    "VERSION": "0.1.0",
    "DESCRIPTION": (
        "Hand a feature branch and its spec over, follow the task, read its report. "
        "Authenticate with `Authorization: Bearer <token>` (`manage.py api_token --user NAME` "
        "prints one). AIFactory's own contract is under /api/specs/. Errors are "
        '`{"detail": "<sentence>", "errors": {"<field>": ["<sentence>"]}}`.'
    ),
    # the schema is public (it holds no data); it does not describe itself
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"SpecFormatEnum": "tasks_app.services.SPEC_FORMATS"},
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tasks_app.web.api.serializers.closed_request_bodies",
    ],
    # path ids are slugs (tasks_app.models.SLUG_RE); settings cannot import the models
    "PATH_CONVERTER_OVERRIDES": {
        "slugid": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"},
        "int": {"type": "integer", "minimum": 0},
    },
}

# django-q2: each pipeline stage is one job. retry > timeout > longest stage, one
# attempt only: a job that dies is not re-run blindly; the reaper fails its task.
Q_CLUSTER = {
    "name": "tfactory",
    "orm": "default",
    "workers": envint("TFACTORY_WORKERS", "2"),
    "timeout": envint("TFACTORY_STAGE_TIMEOUT_S", "3600"),
    "retry": envint("TFACTORY_STAGE_TIMEOUT_S", "3600") + 600,
    "max_attempts": 1,
    "catch_up": False,
    "save_limit": 1000,
    "sync": envbool("TFACTORY_Q_SYNC", "False"),
    "poll": 1,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # stderr, never stdout: the MCP server speaks its protocol on stdout.
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"handlers": ["stderr"], "level": os.getenv("TFACTORY_LOG_LEVEL", "WARNING")},
}
