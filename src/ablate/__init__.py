"""ablate: LIMA-style alignment-data ablations on Ray, tracked in MLflow, scored by an LLM judge."""

__version__ = "0.1.0"
