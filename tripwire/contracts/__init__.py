"""The contracts between processes: plain data every package may import, no hot-path internals.

- ``events``     the bus: envelope, topic builders, ``TOPIC_PAYLOADS`` (topic → payload type),
                 ``TriggerFired``, command requests and their argument models
- ``market``, ``orders``, ``risk``, ``status``  the payload types of the other topics
- ``decisions``  ``Decision``: the one field set every analyst's answer is built from
- ``features``   the feature catalogue

docs/EVENTS.md documents the payloads; tests/contracts keeps it and the types equal.
"""
