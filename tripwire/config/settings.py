"""tripwire's settings: ``config/settings.yaml``, overridden by ``.env`` and environment variables.

Validated once at start with pydantic-settings. A bad value stops start-up with a
:class:`ConfigError` that names where the value came from (the file or the environment
variable), the key and the reason. Environment variables use the ``TRIPWIRE_`` prefix and ``__``
between nested keys, e.g. ``TRIPWIRE_FEATURES__DEPTH_BPS=15``.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from tripwire.config.features import FeatureConfig
from tripwire.config.files import ConfigFileError, read_config_text, read_yaml_mapping

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SETTINGS_FILE = Path("config/settings.yaml")
ENV_PREFIX = "TRIPWIRE_"
ENV_CONFIG_FILE = "TRIPWIRE_CONFIG"
DOTENV_FILE = ".env"


class ConfigError(Exception):
    """A configuration problem a user can fix; the message names file, key and reason."""


class _Frozen(BaseModel):
    # allow_inf_nan=False: an "inf" timeout or size (from the environment, or quoted in the
    # file) would pass every bound and mean "never" or "unlimited"; no setting means that.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class BookSettings(_Frozen):
    stale_after_ms: int = Field(5000, gt=0, description="a book older than this is not traded on")
    max_levels: int = Field(20, ge=1, le=100)


class ReplaySettings(_Frozen):
    files: tuple[Path, ...] = (Path("data/recordings/BTC-l2Book-20240101-12.lz4"),)
    synthetic: bool = Field(True, description="add seeded synthetic trades and asset contexts")
    seed: int = 7


class ExchangeSettings(_Frozen):
    """Where orders and market data go. ``api_url`` None means: by mode (demo: the simulator the
    demo starts; sim: a local simulator at ``sim_url``; testnet/live: Hyperliquid's URLs)."""

    api_url: str | None = None
    sim_url: str = "http://127.0.0.1:8787"
    account_address: str | None = Field(None, description="the trading account (0x…); None: the signer's")
    vault_address: str | None = None
    # The agent (API wallet) key is read from this environment variable or file, never from
    # this file and never logged.
    secret_env: str = "TRIPWIRE_PRIVATE_KEY"
    secret_file: Path | None = None
    allow_live: bool = Field(False, description="mode: live also needs this set to true")


class ExecutionSettings(_Frozen):
    """How the hot path places and protects orders (risk limits are in config/risk.yaml)."""

    transport: Literal["ws", "http"] = "ws"  # ws: the post method, HTTP as fallback
    on_disconnect: Literal["keep", "cancel_all"] = "keep"  # keep: open nothing, keep protection
    account_refresh_s: float = Field(2.0, gt=0)
    deadman_window_s: float = Field(60.0, ge=5)
    deadman_refresh_below_s: float = Field(20.0, gt=0)
    entry_slippage_bps: float = Field(10.0, ge=0)
    close_filled_on_cancel: bool = False
    # A position found without a stop at a restart or reconnect: "protect" (a stop and a
    # take-profit, below) or "flatten" (closed with a reduce-only IOC).
    unprotected_positions: Literal["protect", "flatten"] = "protect"
    # Stop / take-profit distance, in ATRs from the entry price, for a position whose prices
    # are unknown and whose rule (if any) says none; the ATR is the coin's live atr_1m, or
    # fallback_atr_bps of the entry price while that is not warm (just after a restart).
    default_sl_atr: float = Field(1.0, gt=0)
    default_tp_atr: float = Field(1.5, gt=0)
    fallback_atr_bps: float = Field(10.0, gt=0)
    # Between reconnects, the open orders are compared with the exchange's this often
    # (orders it does not know removed, orders we do not know adopted); 0: only on reconnect.
    orders_reconcile_s: float = Field(30.0, ge=0)
    sim_fund_usdc: float = Field(10_000, ge=0)  # demo/sim: deposit this on the simulator if empty


class MetricsSettings(_Frozen):
    host: str = "127.0.0.1"
    hotpath_port: int = Field(9101, ge=0, le=65535)  # 0: no metrics server
    dispatcher_port: int = Field(9102, ge=0, le=65535)
    recorder_port: int = Field(9103, ge=0, le=65535)


class BusSettings(_Frozen):
    """ZeroMQ endpoints: ``ipc://`` sockets under ``run_dir`` unless given (``tcp://`` to cross hosts)."""

    run_dir: Path = Path("run")
    events: str | None = None
    commands: str | None = None


class StoreSettings(_Frozen):
    """The store: an embedded SQLite file by default; MongoDB when ``uri`` is mongodb://…
    (the ``MONGODB_URI`` environment variable, when set, wins)."""

    uri: str = "sqlite:///run/tripwire.sqlite"


class PrefectSettings(_Frozen):
    api_url: str | None = Field(None, description="None: start a local Prefect server (SQLite)")


class ApiKey(_Frozen):
    """One control-plane key. The key itself is read from the environment variable
    ``key_env`` (never from this file); ``scopes``: read < trade < admin (docs/API.md)."""

    name: str = Field(min_length=1, max_length=80)
    key_env: str = Field(min_length=1, description="environment variable that holds the key")
    scopes: tuple[Literal["read", "trade", "admin"], ...] = ("read",)


class ApiSettings(_Frozen):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    allow_remote: bool = Field(False, description="allow binding a non-loopback host")
    public_docs: bool = Field(False, description="serve /openapi.json and /docs (Swagger UI) without a key")
    keys: tuple[ApiKey, ...] = ()
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = Field(1_000_000, gt=0)
    hotpath_timeout_s: float = Field(2.0, gt=0, le=30, description="command channel timeout")
    n8n_webhook_url: str | None = None  # the N8N_WEBHOOK_URL environment variable wins
    n8n_webhook_timeout_s: float = Field(
        30.0, gt=0, le=300, description="how long a pushed trigger waits for n8n's answer (the analysis deadline)"
    )
    n8n_secret_env: str = "TRIPWIRE_N8N_SECRET"  # HMAC key for outgoing and incoming webhooks
    require_signature: bool = Field(
        False, description="refuse mutating requests whose body is not HMAC-signed with the n8n secret"
    )
    flow_path_parameters: tuple[str, ...] = Field(
        (),
        description="flow run parameters naming a file, directory or URI (settings_file, "
        "store_uri, *_file, *_dir, *_path, *_uri) that POST /flows/…/runs may "
        "set; others are refused",
    )


# ``coins: [all]``: every perpetual the exchange's ``meta`` lists, resolved by the hot path at start.
ALL_COINS = "all"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=DOTENV_FILE,
        env_file_encoding="utf-8",
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
    )

    mode: Literal["demo", "sim", "testnet", "live"] = "demo"
    coins: tuple[str, ...] = ("BTC",)
    triggers_file: Path = Path("config/triggers.yaml")
    # market making (config/quoting.yaml, docs/QUOTING.md); None: the hot path does not quote
    quoting_file: Path | None = None
    # funding carry (config/carry.yaml, docs/CARRY.md); None: the hot path runs no carry
    carry_file: Path | None = None
    book: BookSettings = BookSettings()
    features: FeatureConfig = FeatureConfig()
    replay: ReplaySettings = ReplaySettings()
    exchange: ExchangeSettings = ExchangeSettings()
    execution: ExecutionSettings = ExecutionSettings()
    metrics: MetricsSettings = MetricsSettings()
    bus: BusSettings = BusSettings()
    store: StoreSettings = StoreSettings()
    prefect: PrefectSettings = PrefectSettings()
    api: ApiSettings = ApiSettings()
    # Sections read by the flows side only (validated there, by flows' own models, with the
    # same file/key/reason errors); the hot path carries them as data and never reads them.
    analysis: dict[str, Any] = Field(default_factory=dict)
    recorder: dict[str, Any] = Field(default_factory=dict)
    flows: dict[str, Any] = Field(default_factory=dict)

    @field_validator("coins")
    @classmethod
    def _coins_not_empty(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v or any(not c or c != c.strip() for c in v):
            raise ValueError("must be a non-empty list of coin names such as BTC, or [all]")
        if ALL_COINS in v and len(v) > 1:
            raise ValueError(
                f"'{ALL_COINS}' means every perpetual the exchange lists: give it alone, not with other coins"
            )
        if len(set(v)) != len(v):
            raise ValueError(f"lists a coin twice: {', '.join(sorted({c for c in v if v.count(c) > 1}))}")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ):
        # Highest priority first: explicit arguments, environment, .env, then the YAML file.
        return (init_settings, env_settings, dotenv_settings, _YamlSource(settings_cls, _yaml_data.get()))


class _YamlSource(PydanticBaseSettingsSource):
    """The already-read YAML file as a settings source (lowest priority)."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]):
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


# The YAML mapping a load_settings call is building from; read-only, so one shared empty default
# is safe (and the ContextVar must have one for Settings() built outside load_settings).
_yaml_data: ContextVar[dict[str, Any]] = ContextVar("tripwire_settings_yaml", default={})  # noqa: B039  (see above)


def resolve_path(p: Path) -> Path:
    """Relative paths in settings are relative to the working directory, else the project."""
    if p.is_absolute() or p.exists():
        return p
    alt = PROJECT_ROOT / p
    return alt if alt.exists() else p


def _env_name(loc: tuple[Any, ...]) -> str:
    return ENV_PREFIX + "__".join(str(p).upper() for p in loc)


def _explain(err: ValidationError, path: Path) -> ConfigError:
    lines = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not isinstance(p, int)) or ("(root)",)
        key = ".".join(str(p) for p in e["loc"])
        env = _env_name(loc[:1]) if loc else ""
        full_env = _env_name(loc)
        if full_env in os.environ:
            source = f"environment variable {full_env}"
        elif env in os.environ:
            source = f"environment variable {env}"
        else:
            source = str(path)
        reason = e["msg"]
        if e["type"] == "extra_forbidden":
            reason = "unknown setting"
        lines.append(f"{source}: {key}: {reason}")
    return ConfigError("invalid settings:\n  " + "\n  ".join(lines))


def settings_path(path: str | Path | None = None) -> Path:
    if path is None:
        path = os.environ.get(ENV_CONFIG_FILE) or DEFAULT_SETTINGS_FILE
    return resolve_path(Path(path))


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Load and validate settings; raise ConfigError naming the file, key and reason."""
    p = settings_path(path)
    data = read_yaml_mapping(p, "settings", ConfigError) if p.exists() or path is not None else {}
    _check_dotenv(Path(DOTENV_FILE))
    token = _yaml_data.set(data)
    try:
        return Settings(**overrides)
    except ValidationError as e:
        raise _explain(e, p) from None
    finally:
        _yaml_data.reset(token)


def _check_dotenv(path: Path) -> None:
    """pydantic-settings reads ``.env`` itself and lets a bad byte escape as a traceback: check
    first that it decodes, so the error names the file, line and byte."""
    if not path.is_file():
        return
    try:
        read_config_text(path)
    except ConfigFileError as e:
        raise ConfigError(str(e)) from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the file ({e.strerror or e})") from None
