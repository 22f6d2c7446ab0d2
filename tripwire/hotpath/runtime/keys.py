"""The agent key: from the environment variable or file settings name; never logged.

demo and sim modes trade on the local simulator, so without a key they make a throwaway one
(its address is printed, the key is not). testnet and live refuse to start without a key.
"""

from __future__ import annotations

import os
import secrets

from tripwire.config.settings import ConfigError, Settings, resolve_path
from tripwire.hyperliquid.signing import Signer


def load_key(settings: Settings) -> str | None:
    ex = settings.exchange
    key = os.environ.get(ex.secret_env, "").strip()
    if not key and ex.secret_file is not None:
        path = resolve_path(ex.secret_file)
        try:
            key = path.read_bytes().decode("ascii").strip()
        except OSError as e:
            raise ConfigError(f"exchange.secret_file: cannot read {path}: {e.strerror or e}") from None
        except UnicodeDecodeError:
            # a hex key is ASCII; the message says where, never what (the bytes may be the key)
            raise ConfigError(
                f"exchange.secret_file: {path} is not a hex private key (it holds non-ASCII bytes)"
            ) from None
    return key or None


def make_signer(settings: Settings, is_mainnet: bool) -> tuple[Signer, bool]:
    """The signer and whether its key was generated for this run."""
    key = load_key(settings)
    generated = False
    if key is None:
        if settings.mode not in ("demo", "sim"):
            raise ConfigError(
                f"mode {settings.mode} needs an agent key: set the environment "
                f"variable {settings.exchange.secret_env} or exchange.secret_file"
            )
        key, generated = "0x" + secrets.token_hex(32), True
    try:
        return Signer(key, is_mainnet), generated
    except (ValueError, TypeError):
        # The message must not echo the key.
        raise ConfigError(
            f"the agent key in {settings.exchange.secret_env} / exchange.secret_file is not a 32-byte hex private key"
        ) from None
