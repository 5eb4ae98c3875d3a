"""Cross-cutting pieces: settings, errors, security."""
