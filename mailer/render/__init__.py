"""Rendering: templates to HTML and text once per mailing; cheap per-recipient fill."""
