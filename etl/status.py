"""Where a batch is, and what an ingest says of a source: one enum.

The first six are stored in `audit.batch.status` (its CHECK constraint lists exactly these; a test holds
the two together); the others are outcomes an ingest reports for something that never became a batch, or
for a batch it did not take again.
"""

from __future__ import annotations

from enum import StrEnum


class BatchStatus(StrEnum):
    LANDED = "landed"  # bytes landed, nothing read yet
    STAGED = "staged"  # rows in staging
    VALIDATED = "validated"  # rules applied, rows quarantined, waiting for the load
    HELD = "held"  # batch-level check failed: nothing loads until a person releases it
    LOADED = "loaded"  # facts committed (terminal)
    FAILED = "failed"  # the source cannot be read at all (terminal)
    # Reported only, never stored:
    ALREADY_LOADED = "already_loaded"  # the same bytes came again: recognised, not loaded twice
    SOURCE_ERROR = "source_error"  # the source answered wrongly or not at all: retried next run
    SETUP_ERROR = "setup_error"  # the feed is not set up (a connection missing): a person must act
    REFUSED = "refused"  # a drop-folder entry that is never read (a link, a FIFO …)
    UNMATCHED = "unmatched"  # a dropped file no feed takes
    WAITING = "waiting"  # a dropped file still being written


STORED = (BatchStatus.LANDED, BatchStatus.STAGED, BatchStatus.VALIDATED, BatchStatus.HELD, BatchStatus.LOADED,
          BatchStatus.FAILED)
# An earlier run left these mid-way; the next step re-run takes them on.
UNFINISHED = (BatchStatus.LANDED, BatchStatus.STAGED, BatchStatus.VALIDATED)
# The batch went back to the department, whole (feedback workbook with the reason).
RETURNED = (BatchStatus.HELD, BatchStatus.FAILED)
# Needs a person before the next run can do better (exit 3 of `creditwh ingest`).
NEEDS_A_PERSON = (BatchStatus.SOURCE_ERROR, BatchStatus.SETUP_ERROR, BatchStatus.REFUSED)
# A drop-folder entry not taken, and why.
NOT_TAKEN = (BatchStatus.REFUSED, BatchStatus.UNMATCHED, BatchStatus.WAITING)
# Every status an ingest's summary lists line by line.
PROBLEMS = (*RETURNED, BatchStatus.SOURCE_ERROR, BatchStatus.SETUP_ERROR, *NOT_TAKEN)
