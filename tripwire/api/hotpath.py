"""The hot path as the API sees it: commands over ZeroMQ, failures as HTTP errors.

Each :class:`~tripwire.bus.commands.AsyncCommandClient` serves its calls one at a time, so a few
are pooled and concurrent requests each borrow one. A call never waits longer than
``timeout_s``: no reply becomes 503 naming the address, never a hung request. The hot path's
own refusals keep their code and message and get the HTTP status that says the same thing
(table below). A command naming a coin this system does not trade (settings ``coins``) is
refused here, before the hot path: it would answer "nothing to do" (``flatten`` of ``ETHH``
closes nothing and reports success), and an operator would believe a typo had been carried out.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tripwire.api.errors import ApiError, Unavailable
from tripwire.api.metrics import ApiMetrics
from tripwire.bus.commands import AsyncCommandClient, CommandClientPool, CommandError, CommandTimeout
from tripwire.contracts.events import CommandErrorCode

# The hot path's error code → HTTP status. Codes not listed (a handler's own refusal such as
# "paused") are 409: the request was understood and refused in the current state.
STATUS_FOR_CODE = {
    CommandErrorCode.INVALID_ARGS: 422,
    "invalid_config": 422,
    CommandErrorCode.UNKNOWN_COMMAND: 501,  # this hot path is older than the API
    "stale_decision": 409,
    CommandErrorCode.EXPIRED: 503,
    CommandErrorCode.BAD_REQUEST: 502,  # the API sent something the hot path cannot read
    CommandErrorCode.HANDLER_ERROR: 502,
}


class HotPathGateway:
    def __init__(
        self, address: str, timeout_s: float, metrics: ApiMetrics, pool_size: int = 8, coins: Iterable[str] = ()
    ):
        """``coins``: the coins commands may name (settings ``coins``); empty: any."""
        self.address = address
        self.timeout_s = timeout_s
        self.metrics = metrics
        self.coins = tuple(coins)
        self._pool = CommandClientPool(address, pool_size, timeout_s)

    async def call(
        self, cmd: str, args: dict[str, Any] | BaseModel | None = None, timeout_s: float | None = None
    ) -> Any:
        """The command's result; :class:`Unavailable` (503) when the hot path is not there or
        does not answer in time, :class:`ApiError` with the mapped status when it refuses."""
        t = self.timeout_s if timeout_s is None else timeout_s
        self._check_coin(cmd, args)
        self._check_socket(cmd)
        async with self._client(cmd, t) as client:
            try:
                return await client.call(cmd, args, timeout_s=t)
            except CommandTimeout:
                self.metrics.hotpath_errors.labels(cmd, "timeout").inc()
                raise Unavailable(
                    f"the hot path did not answer {cmd!r} at {self.address} "
                    f"within {t:g} s: is it running (tripwire demo / run) and is "
                    f"bus.commands the same address?",
                    code="hotpath_unavailable",
                ) from None
            except CommandError as e:
                self.metrics.hotpath_errors.labels(cmd, e.code).inc()
                raise ApiError(
                    f"the hot path refused {cmd!r}: {e.message}", code=e.code, status=STATUS_FOR_CODE.get(e.code, 409)
                ) from None

    def _check_coin(self, cmd: str, args: dict[str, Any] | BaseModel | None) -> None:
        coin = args.get("coin") if isinstance(args, dict) else getattr(args, "coin", None)
        if coin is None or not self.coins or coin in self.coins:
            return
        raise ApiError(
            f"{cmd}: unknown coin {coin!r}; this system trades {', '.join(self.coins)} (settings 'coins')",
            code="unknown_coin",
            status=422,
        )

    def _check_socket(self, cmd: str) -> None:
        # An ipc:// socket file that does not exist means no hot path has bound it: say so at
        # once instead of waiting out the timeout.
        if self.address.startswith("ipc://") and not Path(self.address[6:]).exists():
            self.metrics.hotpath_errors.labels(cmd, "no_socket").inc()
            raise Unavailable(
                f"the hot path is not running: no command socket at {self.address}", code="hotpath_unavailable"
            )

    @contextlib.asynccontextmanager
    async def _client(self, cmd: str, timeout_s: float) -> AsyncIterator[AsyncCommandClient]:
        # bounded too: with the hot path gone, callers queue behind clients that time out
        borrowed = self._pool.client(wait_s=timeout_s)
        try:
            c = await borrowed.__aenter__()
        except TimeoutError:
            self.metrics.hotpath_errors.labels(cmd, "busy").inc()
            raise Unavailable(
                f"the hot path's command channel is busy: all {self._pool.size} "
                f"clients were in use for {timeout_s:g} s",
                code="hotpath_unavailable",
            ) from None
        try:
            yield c
        finally:
            await borrowed.__aexit__(None, None, None)

    def close(self) -> None:
        self._pool.close()
