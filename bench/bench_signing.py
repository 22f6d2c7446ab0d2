"""Order-signing benchmark: µs per signed order, ours vs the official SDK.

``python -m bench.bench_signing``. Each sample signs one single-order ``order`` action (a fresh
nonce and one of 64 pre-built orders with different prices/sizes) and is timed on its own, so
the figures include everything a caller pays per order. Rows:

- ours: :meth:`tripwire.hyperliquid.signing.Signer.sign_l1_action` on a pre-built action;
- ours incl. wire: plus ``order_wire`` + ``order_action`` (floats → wire strings);
- SDK pure-Python: ``hyperliquid.utils.signing.sign_l1_action`` with eth_keys' native backend,
  which is what the SDK uses when coincurve is not installed;
- SDK + coincurve: the same with eth_keys' coincurve backend.

Signatures are checked equal between ours and the SDK before timing.
"""

from __future__ import annotations

import gc
import os
import platform
import random
import time
from collections.abc import Callable
from typing import Any

from tripwire.hotpath.execution.wire import order_action, order_wire
from tripwire.hyperliquid.signing import KECCAK_BACKEND, Signer

N_ORDERS = 64
NONCE0 = 1_700_000_000_000
_BACKEND_ENV = "ECC_BACKEND_CLASS"


def make_orders(seed: int = 1) -> list[tuple[int, bool, float, float]]:
    rng = random.Random(seed)
    return [
        (
            rng.randrange(0, 200),
            rng.random() < 0.5,
            round(rng.uniform(10, 100_000), 1),
            round(rng.uniform(0.001, 10), 3),
        )
        for _ in range(N_ORDERS)
    ]


def build_action(order: tuple[int, bool, float, float]) -> dict[str, Any]:
    asset, is_buy, px, sz = order
    return order_action([order_wire(asset, is_buy, px, sz, False, {"limit": {"tif": "Ioc"}}, None)])


def time_per_call(fn: Callable[[int], object], n: int) -> dict[str, float]:
    """µs per call: median, p99 and mean over ``n`` individually timed calls (after a warm-up)."""
    for i in range(min(n, 50)):
        fn(i)
    clock = time.perf_counter_ns
    samples = []
    gc.collect()
    gc.disable()
    try:
        for i in range(n):
            t0 = clock()
            fn(i)
            samples.append(clock() - t0)
    finally:
        gc.enable()
    samples.sort()
    return {
        "p50": samples[n // 2] / 1e3,
        "p99": samples[min(n - 1, int(0.99 * n))] / 1e3,
        "mean": sum(samples) / n / 1e3,
        "n": n,
    }


def _with_backend(backend: str, fn: Callable[[], dict[str, float]]) -> dict[str, float]:
    # eth_keys reads ECC_BACKEND_CLASS each time it resolves a backend, so this switches it.
    previous = os.environ.get(_BACKEND_ENV)
    os.environ[_BACKEND_ENV] = backend
    try:
        return fn()
    finally:
        if previous is None:
            del os.environ[_BACKEND_ENV]
        else:
            os.environ[_BACKEND_ENV] = previous


def main() -> None:
    from eth_account import Account
    from hyperliquid.utils.signing import sign_l1_action as sdk_sign

    key = "0x" + random.Random(7).randbytes(32).hex()
    signer = Signer(key, is_mainnet=True)
    wallet = Account.from_key(key)
    orders = make_orders()
    actions = [build_action(o) for o in orders]

    for i, action in enumerate(actions[:8]):
        assert signer.sign_l1_action(action, NONCE0 + i) == sdk_sign(wallet, action, None, NONCE0 + i, None, True)

    sign = signer.sign_l1_action

    def ours(i: int) -> object:
        return sign(actions[i % N_ORDERS], NONCE0 + i)

    def ours_with_wire(i: int) -> object:
        return sign(build_action(orders[i % N_ORDERS]), NONCE0 + i)

    def sdk(i: int) -> object:
        return sdk_sign(wallet, actions[i % N_ORDERS], None, NONCE0 + i, None, True)

    rows = [
        ("ours (Signer.sign_l1_action)", time_per_call(ours, 50_000)),
        ("ours incl. order_wire + order_action", time_per_call(ours_with_wire, 50_000)),
        (
            "SDK, pure-Python eth_keys (SDK default)",
            _with_backend("eth_keys.backends.NativeECCBackend", lambda: time_per_call(sdk, 300)),
        ),
        ("SDK + coincurve", _with_backend("eth_keys.backends.CoinCurveECCBackend", lambda: time_per_call(sdk, 3_000))),
    ]

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"Python {platform.python_version()}; keccak: {KECCAK_BACKEND}"
    )
    print(f"{'signer':42s} {'p50 µs':>9s} {'p99 µs':>9s} {'mean µs':>9s} {'n':>7s}")
    for name, r in rows:
        print(f"{name:42s} {r['p50']:9.1f} {r['p99']:9.1f} {r['mean']:9.1f} {r['n']:7d}")
    base = rows[0][1]["p50"]
    print(
        f"speed-up (p50): {rows[2][1]['p50'] / base:.0f}x vs SDK default, "
        f"{rows[3][1]['p50'] / base:.1f}x vs SDK + coincurve"
    )


if __name__ == "__main__":
    main()
