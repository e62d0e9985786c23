"""Synthetic source data for every department feed in the catalog, with seeded, documented defects.

`generate()` writes CSV/XLSX drop files, JSON API pages and SQL front databases exactly as the
departments deliver them, plus a manifest listing every source and every defect planted on purpose,
so the ingest and validation stages can be tested end to end against known answers.
"""

from simulators.generate.core import GenerationSummary, generate

__all__ = ["GenerationSummary", "generate"]
