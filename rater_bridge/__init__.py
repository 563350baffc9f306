"""The rater bridge: a FastAPI service through which vendors push label batches and pull tasks.

It imports alignment_ci, never the reverse.
"""
