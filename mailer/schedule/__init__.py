"""Scheduling: APScheduler 3 with a SQLAlchemy job store; jobs hold only ids."""
