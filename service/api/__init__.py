"""The REST gateway (FastAPI): `create_app(context)` with a context from `build_context`."""
