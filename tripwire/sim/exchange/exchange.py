"""``POST /exchange``: signed action → response dict, as the exchange answers it.

The order of checks follows the exchange, and nothing changes state until all of them pass:
deserialize (HTTP 422) → recover the signer from the EIP-712 signature → expiresAfter →
the signer must have deposited (or be auto-funded) → nonce → action-level checks (unknown
assets, leverage bounds) → commit the nonce → apply. Per-order problems (tick, lot, margin, …)
come back inside an ok response, after the nonce is used, as on the real exchange.
Deserializing covers every order of a batch, so one malformed field anywhere (a price of
``"1E+999999999"`` in the last order) refuses the whole request before any order is placed.

Signatures are verified as the exchange does for a non-mainnet signer (phantom agent source
"b"), because the SDK signs that way for every base_url other than mainnet's.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from tripwire.sim.exchange import errors, parse
from tripwire.sim.exchange.engine import DAY_MS, SimEngine
from tripwire.sim.exchange.errors import BadRequest, RequestRejected

Recover = Callable[..., str]  # recover_l1_signer(action, signature, nonce, vault, expires_after, is_mainnet)
RecoverUser = Callable[..., str]  # recover_user_signed_signer(action, signature, sign_types, primary_type)

# user-signed actions (EIP-712 over the action's own fields, not the L1 phantom agent): the
# SDK's USD_CLASS_TRANSFER_SIGN_TYPES
USER_SIGNED: dict[str, tuple[list[dict[str, str]], str]] = {
    "usdClassTransfer": (
        [
            {"name": "hyperliquidChain", "type": "string"},
            {"name": "amount", "type": "string"},
            {"name": "toPerp", "type": "bool"},
            {"name": "nonce", "type": "uint64"},
        ],
        "HyperliquidTransaction:UsdClassTransfer",
    )
}
INSUFFICIENT_TRANSFER = "Insufficient balance for transfer."  # chosen: no public capture

SCHEDULE_MIN_LEAD_MS = 5_000
SCHEDULE_MAX_PER_DAY = 10


def default_recover() -> Recover:
    """The project's signer recovery (``tripwire.hyperliquid.signing.recover_l1_signer``)."""
    from tripwire.hyperliquid.signing import recover_l1_signer

    return recover_l1_signer


def default_recover_user() -> RecoverUser:
    from tripwire.hyperliquid.signing import recover_user_signed_signer

    return recover_user_signed_signer


def _ok(kind: str, data: object | None = None) -> dict:
    response: dict = {"type": kind}
    if data is not None:
        response["data"] = data
    return {"status": "ok", "response": response}


class ExchangeApi:
    """Authenticates and applies ``/exchange`` requests against a :class:`SimEngine`."""

    def __init__(
        self,
        engine: SimEngine,
        recover: Recover | None = None,
        auto_fund_usdc: Decimal | None = None,
        is_mainnet: bool = False,
        recover_user: RecoverUser | None = None,
    ) -> None:
        self.engine = engine
        self._recover = recover
        self._recover_user = recover_user
        self.auto_fund_usdc = auto_fund_usdc
        self.is_mainnet = is_mainnet
        self._actions: dict[str, Callable[[str, dict, int], dict]] = {
            "order": self._order,
            "cancel": self._cancel,
            "cancelByCloid": self._cancel_by_cloid,
            "modify": self._modify,
            "batchModify": self._batch_modify,
            "scheduleCancel": self._schedule_cancel,
            "updateLeverage": self._update_leverage,
            "usdClassTransfer": self._usd_class_transfer,
            "noop": lambda user, action, now: _ok("default"),
        }

    @property
    def recover(self) -> Recover:
        if self._recover is None:
            self._recover = default_recover()
        return self._recover

    def handle(self, body: object, now_ms: int, wall_ms: int) -> dict:
        """Answer one request body. ``now_ms`` is the market clock, ``wall_ms`` the wall clock
        (nonces are judged against the wall clock, which is what clients sign with).

        Raises BadRequest for bodies the exchange answers with HTTP 422.
        """
        if not isinstance(body, dict):
            raise parse.bad("expected an object")
        action = body.get("action")
        if not isinstance(action, dict) or not isinstance(action.get("type"), str):
            raise parse.bad("missing field `action`")
        nonce = body.get("nonce")
        if type(nonce) is not int or nonce < 0:
            raise parse.bad("missing field `nonce`")
        sig = parse.signature(body.get("signature"))
        vault = body.get("vaultAddress")
        expires = body.get("expiresAfter")
        if (vault is not None and not parse.is_address(vault)) or (expires is not None and type(expires) is not int):
            raise parse.bad("vaultAddress must be an address, expiresAfter an integer")
        handler = self._actions.get(action["type"])
        if handler is not None:
            try:  # the shape is judged before the signature, as the exchange deserializes first
                handler("", action, -1)
            except RequestRejected:
                pass  # business rules are judged after authentication, below
        try:
            return self._authenticated(action, sig, nonce, vault, expires, handler, now_ms, wall_ms)
        except RequestRejected as exc:
            return {"status": "err", "response": exc.message}

    def _authenticated(
        self,
        action: dict,
        sig: dict,
        nonce: int,
        vault: str | None,
        expires: int | None,
        handler: Callable | None,
        now_ms: int,
        wall_ms: int,
    ) -> dict:
        try:
            if action["type"] in USER_SIGNED:
                signer = self._user_signer(action, sig, nonce)
            else:
                signer = self.recover(action, sig, nonce, vault, expires, is_mainnet=self.is_mainnet).lower()
        except (BadRequest, RequestRejected):
            raise
        except Exception as exc:  # noqa: BLE001  (malformed point or v: the exchange cannot recover anyone)
            raise RequestRejected(f"Invalid signature: {exc}") from None
        if expires is not None and expires < wall_ms:
            raise RequestRejected(errors.EXPIRED.format(expires_after=expires, now=wall_ms))
        e = self.engine
        if signer not in e.accounts and self.auto_fund_usdc is None:
            raise RequestRejected(errors.MUST_DEPOSIT.format(user=signer))
        e.nonces.check(signer, nonce, wall_ms)
        if handler is None:
            raise RequestRejected(errors.UNSUPPORTED_ACTION.format(type=action["type"]))
        prepared = handler(signer, action, -1)  # validation pass: parse and check, apply nothing
        if signer not in e.accounts and self.auto_fund_usdc is not None:  # checked above
            e.fund(signer, self.auto_fund_usdc)
        e.nonces.commit(signer, nonce)
        del prepared
        return handler(signer, action, now_ms)

    def _user_signer(self, action: dict, sig: dict, nonce: int) -> str:
        """The signer of a user-signed action, which names its network and repeats the nonce."""
        chain = "Mainnet" if self.is_mainnet else "Testnet"
        if action.get("hyperliquidChain") != chain:
            raise RequestRejected(f"Invalid hyperliquidChain: expected {chain}")
        if action.get("nonce") != nonce:
            raise RequestRejected("Invalid nonce: the action's nonce differs from the request's")
        if self._recover_user is None:
            self._recover_user = default_recover_user()
        types, primary = USER_SIGNED[action["type"]]
        return self._recover_user(action, sig, types, primary).lower()

    # Each action handler runs twice: with now_ms == -1 it only parses and validates (raising
    # BadRequest / RequestRejected), so a refused request leaves the nonce and state untouched;
    # then for real. Parsing is cheap next to signature recovery.

    def _market_of(self, asset: int) -> str:
        market = self.engine.universe.by_asset(asset)
        if market is None:
            raise RequestRejected(errors.UNKNOWN_ASSET.format(asset=asset))
        return market.name

    def _perp_or_spot(self, asset: int) -> str:
        """A perp's name, or a spot pair's (``@index``) for asset ``10000 + index``."""
        pair = self.engine.spot.by_asset(asset)
        return pair.coin if pair is not None else self._market_of(asset)

    def _order(self, user: str, action: dict, now_ms: int) -> dict:
        specs = [parse.order_spec(w) for w in parse.obj_list(action, "orders")]
        grouping = action.get("grouping", "na")
        if grouping not in parse.GROUPINGS:
            raise parse.bad(f"unknown grouping {grouping!r}")
        for spec in specs:
            self._perp_or_spot(spec.asset)
        if now_ms < 0:
            return {}
        statuses = self.engine.matcher.place(user, specs, grouping, now_ms)
        return _ok("order", {"statuses": statuses})

    def _cancel(self, user: str, action: dict, now_ms: int) -> dict:
        cancels = [(parse.integer(c, "a"), parse.integer(c, "o")) for c in parse.obj_list(action, "cancels")]
        coins = [self._perp_or_spot(a) for a, _o in cancels]
        if now_ms < 0:
            return {}
        statuses = []
        for coin, (_a, oid) in zip(coins, cancels):
            order = self.engine.find(user, oid)
            statuses.append(self.engine.matcher.cancel(user, order if order and order.coin == coin else None, now_ms))
        return _ok("cancel", {"statuses": statuses})

    def _cancel_by_cloid(self, user: str, action: dict, now_ms: int) -> dict:
        cancels = [(parse.integer(c, "asset"), parse.cloid(c.get("cloid"))) for c in parse.obj_list(action, "cancels")]
        coins = [self._perp_or_spot(a) for a, _c in cancels]
        if now_ms < 0:
            return {}
        statuses = []
        for coin, (_a, cl) in zip(coins, cancels):
            order = self.engine.open_by_cloid(user, cl)
            statuses.append(self.engine.matcher.cancel(user, order if order and order.coin == coin else None, now_ms))
        return _ok("cancel", {"statuses": statuses})

    def _parse_modifies(self, modifies: list[dict]) -> list:
        # every modify's shape first (HTTP 422), then the assets (a whole-request error)
        out = [(parse.oid_or_cloid(m.get("oid")), parse.order_spec(m.get("order"))) for m in modifies]
        for _key, spec in out:
            self._market_of(spec.asset)
        return out

    def _apply_modifies(self, user: str, parsed: list, now_ms: int) -> list:
        statuses = []
        for key, spec in parsed:
            target = self.engine.find(user, key)
            if target is not None and target.coin != self._market_of(spec.asset):
                target = None
            statuses.append(self.engine.matcher.modify(user, target, spec, now_ms))
        return statuses

    def _modify(self, user: str, action: dict, now_ms: int) -> dict:
        parsed = self._parse_modifies([action])
        if now_ms < 0:
            return {}
        [status] = self._apply_modifies(user, parsed, now_ms)
        if isinstance(status, dict) and "error" in status:
            return {"status": "err", "response": status["error"]}
        return _ok("default")

    def _batch_modify(self, user: str, action: dict, now_ms: int) -> dict:
        parsed = self._parse_modifies(parse.obj_list(action, "modifies"))
        if now_ms < 0:
            return {}
        return _ok("order", {"statuses": self._apply_modifies(user, parsed, now_ms)})

    def _schedule_cancel(self, user: str, action: dict, now_ms: int) -> dict:
        when = action.get("time")
        if when is not None and type(when) is not int:
            raise parse.bad("`time` must be an integer")
        e = self.engine
        if now_ms < 0:
            return {}
        if when is None:
            e.schedule.pop(user, None)
            return _ok("default")
        if when < now_ms + SCHEDULE_MIN_LEAD_MS:
            return {"status": "err", "response": errors.SCHEDULE_TOO_EARLY}
        day, count = e.schedule_count.get(user, (now_ms // DAY_MS, 0))
        if day == now_ms // DAY_MS and count >= SCHEDULE_MAX_PER_DAY:
            return {"status": "err", "response": errors.SCHEDULE_TOO_MANY}
        e.schedule[user] = when
        return _ok("default")

    def _update_leverage(self, user: str, action: dict, now_ms: int) -> dict:
        asset = parse.integer(action, "asset")
        is_cross = parse.boolean(action, "isCross")
        leverage = parse.integer(action, "leverage")
        coin = self._market_of(asset)
        market = self.engine.universe.by_name[coin]
        if not 1 <= leverage <= market.max_leverage:
            raise RequestRejected(errors.INVALID_LEVERAGE)
        if now_ms < 0:
            return {}
        self.engine.accounts[user].leverage[coin] = (is_cross, leverage)
        return _ok("default")

    def _usd_class_transfer(self, user: str, action: dict, now_ms: int) -> dict:
        """USDC between the perp margin and the spot balance (``toPerp``: spot → perp)."""
        amount = parse.decimal(action, "amount")
        to_perp = parse.boolean(action, "toPerp")
        parse.integer(action, "nonce")
        if amount <= 0:
            raise parse.bad("`amount` must be above zero")
        if now_ms < 0:
            return {}
        e = self.engine
        acct = e.accounts[user]
        if to_perp:
            if amount > e.spot_matcher.available(user, "USDC"):
                return {"status": "err", "response": INSUFFICIENT_TRANSFER}
            acct.spot.credit("USDC", -amount)
            acct.balance += amount
        else:
            if amount > min(e.available_margin(user), acct.balance):
                return {"status": "err", "response": INSUFFICIENT_TRANSFER}
            acct.balance -= amount
            acct.spot.credit("USDC", amount)
        return _ok("default")
