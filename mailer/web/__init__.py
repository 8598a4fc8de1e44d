"""Web: subscriber pages, admin and JSON API (FastAPI + Jinja2)."""
