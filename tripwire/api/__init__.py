"""tripwire's HTTP control plane (FastAPI): ``tripwire.api.app.create_app(settings)``; docs/API.md."""
