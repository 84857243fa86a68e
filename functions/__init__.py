"""Request and event handlers: FastAPI routers, one module per API area (no torch in here)."""
