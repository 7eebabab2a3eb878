"""Check a batch run's output against its input: one line per row, no more.

Usage: python benchmarks/check_batch_output.py USERS.csv RESULTS.jsonl

Exits non-zero, naming the rows, if any input row has no output line or more
than one, or if an output line names a row the input does not have.
"""

from __future__ import annotations

import collections
import json
import sys

from gridy_async._batch import read_rows


def main(users_path: str, results_path: str) -> int:
    # Rows are named by the file line they start on, as the batch reads them.
    with open(users_path, "rb") as users:
        expected = {row.line for row in read_rows(users)}
    rows = len(expected)
    with open(results_path, encoding="utf-8") as results:
        lines = [json.loads(line) for line in results if line.strip()]

    seen = collections.Counter(record["line"] for record in lines)
    missing = sorted(expected - seen.keys())
    twice = sorted(line for line, count in seen.items() if count > 1)
    unknown = sorted(seen.keys() - expected)
    outcomes = collections.Counter(record["outcome"] for record in lines)
    print(f"{rows} rows, {len(lines)} result lines: {dict(sorted(outcomes.items()))}")
    if missing or twice or unknown:
        print(f"missing {missing}, more than once {twice}, not in input {unknown}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
