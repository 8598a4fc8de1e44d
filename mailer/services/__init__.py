"""The use cases: the only thing ``cli/`` and ``web/`` call for work.

One module per job, as pretix's ``base/services/``:

- ``mailings``: plan a mailing (now or at a time), pause, resume, cancel, start due,
  progress, timeline, test sends.
- ``subscriptions``: subscribe with its confirmation mail, confirm, preferences,
  unsubscribe (web, one-click, mailto), erase and access reports.
- ``invitations``: open an invitation file, invite, remind, register, seats, transfers,
  registration confirmations.
- ``imports``: subscriber and registration CSV imports and their reports.
- ``accounts``: admin users, logins and API tokens.
- ``lists``: mailing lists and their counts.

Conventions:
- A service takes a ``Session`` when its whole job is one transaction; the edge opens it
  (``mailer.store.db.transaction``, or the web's ``db()`` helper, off the event loop).
  A service that spans transactions or does I/O takes the ``Engine`` (and ``Settings``).
- Services call ``store/`` queries, ``domain/`` rules, ``render/`` and ``delivery/``;
  they hold no SQL and know no screen: they return values (dataclasses), never HTML or
  console text, and raise ``mailer.errors.MailerError`` subclasses for the user.
- Every message leaves as a mailing with outbox rows (``mailings.plan_mailing``), so it
  goes through the one SMTP pool and its rate limit and shows in ``mailer mailings``.
"""
