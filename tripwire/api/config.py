"""The control plane's runtime configuration: settings plus the secrets they point to.

Settings name environment variables; the secrets themselves (API keys, the n8n HMAC secret) are
read here, once, at start. A missing or weak key stops start-up with a message naming the
setting and the variable, never the value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from tripwire.bus.addresses import BusAddressError, configured_addresses
from tripwire.config.settings import Settings

SCOPES = ("read", "trade", "admin")  # each includes the ones before it
MIN_KEY_CHARS = 16  # a shorter key is guessable; refuse it at start
N8N_WEBHOOK_ENV = "N8N_WEBHOOK_URL"


class ApiConfigError(Exception):
    """The API cannot start with these settings; the message says which and why."""


@dataclass(frozen=True)
class KeySpec:
    name: str
    secret: str = ""
    scope: str = "read"  # the highest scope the key was given

    def __repr__(self) -> str:  # the secret never reaches a log through a repr
        return f"KeySpec(name={self.name!r}, scope={self.scope!r})"


@dataclass(frozen=True)
class ApiConfig:
    keys: tuple[KeySpec, ...]
    events_address: str
    commands_address: str
    hotpath_timeout_s: float
    max_body_bytes: int
    cors_origins: tuple[str, ...]
    n8n_webhook_url: str | None
    n8n_secret: str | None
    require_signature: bool
    prefect_api_url: str | None
    public_docs: bool = False
    n8n_webhook_timeout_s: float = 30.0

    def __repr__(self) -> str:
        return (
            f"ApiConfig(keys={[k.name for k in self.keys]}, events={self.events_address!r}, "
            f"commands={self.commands_address!r}, n8n_webhook_url={self.n8n_webhook_url!r})"
        )

    def secrets(self) -> tuple[str, ...]:
        """Every secret value this process holds, for the redaction of error messages."""
        out = [k.secret for k in self.keys]
        if self.n8n_secret:
            out.append(self.n8n_secret)
        return tuple(s for s in out if s)


def highest_scope(scopes: tuple[str, ...]) -> str:
    return max(scopes, key=SCOPES.index) if scopes else "read"


def resolve(settings: Settings, environ: Mapping[str, str] | None = None) -> ApiConfig:
    """Read the secrets the settings name; ApiConfigError for a missing, short or shared key."""
    env = os.environ if environ is None else environ
    api = settings.api
    keys: list[KeySpec] = []
    seen: dict[str, str] = {}
    for i, k in enumerate(api.keys):
        where = f"api.keys[{i}] ({k.name})"
        secret = env.get(k.key_env, "")
        if not secret:
            raise ApiConfigError(f"{where}: environment variable {k.key_env} is not set or empty")
        if len(secret) < MIN_KEY_CHARS:
            raise ApiConfigError(
                f"{where}: the key in {k.key_env} has {len(secret)} characters; "
                f"use at least {MIN_KEY_CHARS} (e.g. `openssl rand -hex 24`)"
            )
        if secret in seen:
            raise ApiConfigError(
                f"{where}: same key as {seen[secret]}; give each key its own value so it can be revoked alone"
            )
        seen[secret] = where
        keys.append(KeySpec(k.name, secret, highest_scope(k.scopes)))
    n8n_secret = env.get(api.n8n_secret_env) or None
    if api.require_signature and not n8n_secret:
        raise ApiConfigError(
            f"api.require_signature is true but {api.n8n_secret_env} is not set: set the shared HMAC secret there"
        )
    try:
        events, commands = configured_addresses(settings.bus)
    except BusAddressError as e:
        raise ApiConfigError(f"bus.run_dir: {e}") from None
    return ApiConfig(
        keys=tuple(keys),
        events_address=events,
        commands_address=commands,
        hotpath_timeout_s=api.hotpath_timeout_s,
        max_body_bytes=api.max_body_bytes,
        cors_origins=api.cors_origins,
        n8n_webhook_url=env.get(N8N_WEBHOOK_ENV) or api.n8n_webhook_url,
        n8n_secret=n8n_secret,
        require_signature=api.require_signature,
        prefect_api_url=settings.prefect.api_url,
        public_docs=api.public_docs,
        n8n_webhook_timeout_s=api.n8n_webhook_timeout_s,
    )
