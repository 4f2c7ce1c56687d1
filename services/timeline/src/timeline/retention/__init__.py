"""Removing posts: the retention job, the operator's erasure, and the withdrawal's stop or deletion."""
