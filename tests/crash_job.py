"""The run flow's steps without Prefect, for crash tests: ``python -m tests.crash_job DATA_DIR``.

Lands the sample as of 2024-03-10, builds every missing partition, writes the month's document,
under the data directory's lock: what a killed ``insights run`` leaves behind, minus Prefect.
"""

import datetime as dt
import sys
from pathlib import Path

from pipeline import calendar, document, job
from pipeline.lock import exclusive
from pipeline.sources.sample import SampleSource

AS_OF = dt.date(2024, 3, 10)


def main(data_dir: Path) -> None:
    with exclusive(data_dir, "crash test"):
        job.land(data_dir, SampleSource(AS_OF))
        job.build(data_dir, job.plan_run(data_dir, AS_OF))
        first, last = calendar.default_range(AS_OF)
        target = data_dir / "documents" / f"insights_{first.isoformat()}_{last.isoformat()}.json"
        document.write(data_dir, target, job.export(data_dir, first, last))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
