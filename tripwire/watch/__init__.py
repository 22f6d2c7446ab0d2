"""``tripwire watch``: a live terminal dashboard attached to a running system through the API
(state, controls) and the event stream (ticks, triggers, fills). docs/WATCH.md."""
