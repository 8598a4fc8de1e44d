"""Delivery: outbox, transports (SMTP pool, catcher, Maildir), retries, headers."""
