"""Render stages, one module each, named after what they do."""
