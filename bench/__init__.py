"""inr-bench: compare initialization schemes for implicit neural representations."""

__version__ = "0.1.0"
