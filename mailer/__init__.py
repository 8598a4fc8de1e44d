"""mailer: newsletters, invitations and registration reminders for public-sector teams."""

__version__ = "0.1.0"
