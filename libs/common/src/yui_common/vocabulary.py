"""Closed vocabularies that more than one service speaks: timeline validates them, the portal offers and labels them.

They are part of the timeline API's contract, so they live here once instead of as copies in each service.
"""

from __future__ import annotations

from typing import Literal, get_args

# T1: what is shared about a subject (visits and treatment, medication, test data, daily living, instructions, …).
PostCategory = Literal[
    "visit",
    "treatment",
    "medication",
    "vital_signs",
    "test_result",
    "daily_living",
    "instruction",
    "support_progress",
    "other",
]
POST_CATEGORIES: tuple[str, ...] = get_args(PostCategory)

# T6: what a group not tied to a subject is for.
GroupPurpose = Literal["training", "information_exchange", "administrative", "other"]
GROUP_PURPOSES: tuple[str, ...] = get_args(GroupPurpose)
