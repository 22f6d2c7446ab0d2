"""tripwire's HTTP control plane (FastAPI): ``api.app.create_app(settings)``; docs/API.md."""
