"""The scheduled flows (issue #5): one module per flow, pure logic beside it, I/O at the edges.

=========================  ==========================  =====================================
flow (deployment name)     pure core                   what it stores
=========================  ==========================  =====================================
``snapshot_market``        :mod:`.market`              ticker, open_interest, funding_history
``refresh_leaderboard``    :mod:`.leaderboard`,        tracked_traders, leaderboard_history
                           :mod:`.leaderboard_stream`
``poll_trader_positions``  :mod:`.positions`           trader_positions, trader_current_state
``generate_signals``       :mod:`.signals`             signals (+ set_feature to the hot path)
``retrain_model``          :mod:`.labeling`,           models (+ model files, reload_model)
                           :mod:`.training`
=========================  ==========================  =====================================

Each flow module exposes a Prefect ``@flow`` (what the deployments in ``prefect.yaml`` run) and
a plain ``run_…(store, client, cfg, now_ms)`` coroutine doing the same work without Prefect, for
tests and scripts. Schedules live in ``prefect.yaml`` only; ``tripwire flows serve`` reads them
(see docs/FLOWS.md).
"""
