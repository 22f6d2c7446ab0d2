"""PPO for the quoter's γ (stable-baselines3 on :class:`~tripwire.flows.alpha.env.GammaEnv`;
needs ``.[alpha]``).

Training runs episodes on the first part of the data (``train_share`` of its exchange time);
the saved agent is then judged on the rest — time it never saw — against fixed γ (scale 1) in
the same environment: same backtest, penalty and seed. :class:`PpoGammaPolicy` is what
``tripwire backtest --gamma-policy ppo:PATH`` hands the backtest: deterministic actions on the
same state vector.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tripwire.flows.alpha.env import GammaEnv, action_to_scale, scale_to_action
from tripwire.sim.backtest.gamma import GammaState


@dataclass
class Episode:
    reward: float
    pnl_usd: float
    penalty_usd: float
    steps: int
    scale_mean: float
    max_abs_inventory: float

    def to_dict(self) -> dict[str, Any]:
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def run_episode(env: GammaEnv, act: Callable[[np.ndarray], float]) -> Episode:
    """One episode with ``act(obs) → action``; the totals the comparison reports."""
    obs, _ = env.reset()
    total = pnl = pen = 0.0
    scales, invs, steps = [], [], 0
    done = False
    while not done:
        obs, r, done, _, info = env.step(np.array([act(obs)], dtype=np.float32))
        total += r
        pnl += info["pnl_usd"]
        pen += info["penalty_usd"]
        scales.append(info["gamma_scale"])
        invs.append(abs(info["inventory"]))
        steps += 1
    return Episode(total, pnl, pen, steps, float(np.mean(scales)) if scales else 1.0, max(invs, default=0.0))


def train(env: GammaEnv, timesteps: int, seed: int = 7, threads: int = 1) -> tuple[Any, float]:
    """A PPO agent trained for ``timesteps`` decisions; (model, wall seconds)."""
    from stable_baselines3 import PPO

    torch.set_num_threads(threads)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=128,
        batch_size=64,
        n_epochs=5,
        learning_rate=3e-4,
        gamma=0.99,
        ent_coef=0.01,
        policy_kwargs={"net_arch": [32, 32]},
        seed=seed,
        device="cpu",
        verbose=0,
    )
    t0 = time.perf_counter()
    model.learn(total_timesteps=timesteps)
    return model, time.perf_counter() - t0


def save(model: Any, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(p))
    return p if p.suffix == ".zip" else p.with_name(p.name + ".zip")


class PpoGammaPolicy:
    """A saved agent as the backtest's γ policy: state → γ scale (deterministic)."""

    def __init__(self, path: str | Path) -> None:
        from stable_baselines3 import PPO

        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such PPO policy file (train one: tripwire alpha ppo)")
        self.path = p
        self.model = PPO.load(str(p), device="cpu")

    def action(self, obs: np.ndarray) -> float:
        a, _ = self.model.predict(obs, deterministic=True)
        return float(np.asarray(a).reshape(-1)[0])

    def __call__(self, state: GammaState) -> float:
        return action_to_scale(self.action(np.array(state.vector(), dtype=np.float32)))


def fixed(scale: float = 1.0) -> Callable[[np.ndarray], float]:
    a = scale_to_action(scale)
    return lambda obs: a
