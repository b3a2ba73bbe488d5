"""The project's own question/answer generator as a pool source: no download, any size."""

from __future__ import annotations

from ablate.data.fixtures.synthetic import synthetic_records
from ablate.data.sources.spec import generated

SOURCE = generated("synthetic", synthetic_records, group="topic")
