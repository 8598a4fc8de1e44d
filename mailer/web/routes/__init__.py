"""Route modules of the subscriber-facing pages, one per job."""
