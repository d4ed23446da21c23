"""neurofetch: fast, resumable, verified bulk transfers for neuroimaging data services."""

__version__ = "0.1.0"
