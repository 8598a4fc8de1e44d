"""Storage: SQLAlchemy models, sessions, queries and migrations."""
