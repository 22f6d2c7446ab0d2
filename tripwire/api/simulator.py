"""The simulator's session controls, for the API's ``/sim/*`` routes (demo and sim modes only).

In ``demo`` and ``sim`` the orders go to the local simulator (docs/SIMULATOR.md); its sim-only
routes reset an account and save the accounts to its session file. In ``testnet`` and ``live``
there is no simulator behind the API, so every control is refused (409 ``not_a_simulator``)
saying so: nothing is sent anywhere.
"""

from __future__ import annotations

from typing import Any

import httpx

from tripwire.api.errors import ApiError, Conflict, Unavailable
from tripwire.config.endpoints import by_mode
from tripwire.config.settings import Settings

SIM_MODES = ("demo", "sim")


class SimulatorGateway:
    def __init__(self, settings: Settings, timeout_s: float = 10.0) -> None:
        self.mode = settings.mode
        self.url = by_mode(settings).order_url.rstrip("/") if self.mode in SIM_MODES else None
        self.fund_usdc = settings.execution.sim_fund_usdc
        self.account_address = settings.exchange.account_address
        self.timeout_s = timeout_s

    def refusal(self) -> str | None:
        """Why the session controls cannot be used here, or None."""
        if self.url is None:
            return f"mode {self.mode}: there is no simulator session (demo and sim only)"
        return None

    async def reset(self, user: str) -> dict[str, Any]:
        """``user``'s simulator account back to a flat one holding the starting deposit
        (``execution.sim_fund_usdc``), its orders canceled."""
        return await self._post("/sim/reset", {"user": user, "usdc": str(self.fund_usdc)})

    async def save(self) -> dict[str, Any]:
        """The simulator's accounts written to its ``--accounts-file`` session now."""
        return await self._post("/sim/session/save", {})

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if (why := self.refusal()) is not None:
            raise Conflict(why, code="not_a_simulator")
        url = f"{self.url}{path}"
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                r = await client.post(url, json=body)
        except httpx.HTTPError as e:
            raise Unavailable(
                f"the simulator did not answer at {self.url} ({type(e).__name__}): is it running?",
                code="simulator_unavailable",
            ) from None
        try:
            answer = r.json()
        except ValueError:
            answer = {"response": r.text[:200]}
        if r.status_code != 200 or not isinstance(answer, dict) or answer.get("status") != "ok":
            why = answer.get("response") if isinstance(answer, dict) else answer
            raise ApiError(f"the simulator refused {path}: {why}", code="simulator_refused", status=409)
        return answer
