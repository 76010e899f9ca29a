"""Reads an Iceberg table back with pyiceberg (a reader nobody in this project wrote) and prints
one JSON document: the rows as columns (sorted by the `id` column when there is one), the snapshots'
summaries and every data file's partition and record count.

    python read_table.py CATALOG_URI S3_URL NAMESPACE.TABLE
"""

import json
import sys

from pyiceberg.catalog import load_catalog


def main() -> None:
    uri, s3, name = sys.argv[1:4]
    catalog = load_catalog(
        "rest",
        **{
            "type": "rest",
            "uri": uri,
            "s3.endpoint": s3,
            "s3.access-key-id": "iggy",
            "s3.secret-access-key": "iggy-secret",
            "s3.region": "us-east-1",
            "s3.path-style-access": "true",
        },
    )
    table = catalog.load_table(name)
    rows = table.scan().to_arrow()
    if "id" in rows.column_names:
        rows = rows.sort_by("id")
    files = [
        {
            "path": task.file.file_path,
            "partition": {
                field.name: task.file.partition[i]
                for i, field in enumerate(table.spec().fields)
            },
            "record_count": task.file.record_count,
        }
        for task in table.scan().plan_files()
    ]
    snapshots = [
        {"id": s.snapshot_id, "summary": s.summary.additional_properties if s.summary else {}}
        for s in table.snapshots()
    ]
    # Columns, not a list of row dicts: much faster for 100 000 rows (the caller zips them).
    out = {"columns": rows.to_pydict(), "files": files, "snapshots": snapshots}
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main()
