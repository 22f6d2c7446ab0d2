"""Market making on the hot path: Avellaneda–Stoikov quotes, post-only, under the risk checks
(docs/QUOTING.md). ``model`` and ``planner`` are pure; ``config`` reads config/quoting.yaml;
``quoter`` is the running hot path's shell around them."""
