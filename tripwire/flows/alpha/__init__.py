"""The learned side of market making (docs/ALPHA.md): a small transformer over limit-order-book
sequences predicting the micro-price move, and a PPO policy scaling the quoter's risk aversion γ.

Everything here runs **off the hot path**. Modules that need PyTorch (``transformer``, ``ppo``,
``env``'s training) import it themselves and are only loaded with the ``alpha`` extra installed;
``config``, ``books``, ``baselines`` and ``evaluate``'s metrics are numpy only.

| module | job |
|---|---|
| ``config`` | ``AlphaConfig``: the model's shape, labels and training (``flows.retrain_model.alpha``) |
| ``books`` | pure numpy: l2Book messages → snapshot arrays, normalised windows, triple-barrier labels |
| ``baselines`` | the no-skill and logistic baselines on the same windows |
| ``transformer`` | the torch model: fit, predict, save and load the artifact |
| ``evaluate`` | walk-forward of the three, promote only if better, the artifact and its record |
| ``serve`` | ``tripwire alpha serve``: bus books → model → ``set_feature pred_move_bps`` |
| ``env`` | the gymnasium environment on the backtest (state, γ-scaling action, reward) |
| ``ppo`` | stable-baselines3 PPO: train on the hour's first part, the policy the backtest loads |
"""
