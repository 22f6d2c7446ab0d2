"""The contracts between processes: event topics and payloads, the feature catalogue."""
