"""The consumer runtime: batch assembly, commit tracking, the per-integration loop."""
