"""The bad-input corpus: hostile sources and their expected outcomes (see README.md)."""
