"""One router per resource; ``tripwire.api.app.create_app`` includes them all."""
