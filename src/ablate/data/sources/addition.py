"""Single-digit addition facts as a pool source (ablate.data.fixtures.addition): no download,
any size; the data the `addition` task measures (sweeps/tasks.yaml)."""

from __future__ import annotations

from ablate.data.fixtures.addition import addition_records
from ablate.data.sources.spec import generated

SOURCE = generated("addition", addition_records, group="phrasing")
