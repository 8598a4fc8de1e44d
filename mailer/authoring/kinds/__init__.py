"""One module per document kind; each calls ``register_kind`` when imported."""
