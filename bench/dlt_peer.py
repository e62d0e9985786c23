"""The peer a data engineer would pick today: dlt, loading the flattened CSVs into PostgreSQL.

Run by bench/ingest_bench.py in dlt's own environment (bench/.venv-dlt, made by `make bench`; dlt is not a
dependency of the product):

    bench/.venv-dlt/bin/python bench/dlt_peer.py FLAT_DIR DATABASE_URL KEYS_JSON

KEYS_JSON maps each record type's CSV (flat/<record type>.csv, standard field codes as headers) to its
document-number field. The configuration is dlt's fastest idiomatic one measured on this machine: dict rows
from a generator, `write_disposition="merge"` on the document-number key, `loader_file_format="csv"` (COPY
into PostgreSQL) and two normalize workers. Prints the seconds of the pipeline run as one JSON line.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    flat_dir, url, keys_json = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    keys: dict[str, str] = json.loads(keys_json)
    # dlt reads its configuration from the environment (SECTION__KEY); set before dlt is imported.
    os.environ["NORMALIZE__WORKERS"] = "2"
    os.environ["RUNTIME__LOG_LEVEL"] = "WARNING"
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    import dlt
    from dlt.common.configuration.specs import ConnectionStringCredentials

    credentials = ConnectionStringCredentials(url)
    # dlt insists on a password; the benchmark's servers trust local connections and ignore it.
    credentials.password = credentials.password or "unused-by-trust-auth"

    def rows_of(path: Path):
        with path.open(encoding="utf-8", newline="") as handle:
            # Every cell as text, empty ones "" (as the tutorial's read_csv(dtype=str, keep_default_na=False)).
            yield from csv.DictReader(handle)

    resources = [
        dlt.resource(rows_of(flat_dir / f"{code}.csv"), name=code, write_disposition="merge", primary_key=key)
        for code, key in keys.items()
    ]
    with tempfile.TemporaryDirectory(prefix="dlt-peer-") as pipelines_dir:
        destination = dlt.destinations.postgres(credentials=credentials.to_native_representation())
        pipeline = dlt.pipeline(pipeline_name="creditwh_peer", pipelines_dir=pipelines_dir, destination=destination,
                                dataset_name="peer")
        started = time.perf_counter()
        pipeline.run(resources, loader_file_format="csv")
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds}))


if __name__ == "__main__":
    main()
