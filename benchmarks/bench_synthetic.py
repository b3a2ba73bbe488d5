"""How fast the project's synthetic question/answer generator makes records.

    python benchmarks/bench_synthetic.py [--records 10000] [--repeats 5]

Prints records per second (minimum, median and maximum over the repeats). The quickstart,
the tests and the CPU-sized LIMA sweeps all draw from this generator; a figure here replaces
a wall-clock assertion in the unit tests (which fail on a busy machine).
"""

from __future__ import annotations

import argparse
import statistics
import time

from ablate.data.fixtures.synthetic import synthetic_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rates = []
    for seed in range(args.repeats):
        start = time.perf_counter()
        records = synthetic_records(args.records, seed)
        rates.append(len(records) / (time.perf_counter() - start))
    print(
        f"synthetic_records({args.records:,}): records/s min {min(rates):,.0f}, "
        f"median {statistics.median(rates):,.0f}, max {max(rates):,.0f} ({args.repeats} runs)"
    )


if __name__ == "__main__":
    main()
