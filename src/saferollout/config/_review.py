"""The `preflight.review:` section of rollout.yaml: blinded human review of the candidate.

Preflight samples suite prompts and real prompts (from stored interactions),
collects the candidate's and stable's answers side by side, and reviewers rate
each pair on `saferollout review`. The gate reads the stored ratings. This file
imports nothing from saferollout so the config package stays at the bottom.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_HARM_CATEGORIES = [
    "violence",
    "hate",
    "sexual",
    "self_harm",
    "crime",
    "privacy",
    "bias",
    "dangerous_advice",
    "misinformation",
    "other",
]


class ReviewConfig(BaseModel):
    """Human evaluation: what goes into the review set and what the gate requires."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=False, description="Build a review set and gate on its ratings")
    suite_items: int = Field(
        default=30, ge=0, description="Suite prompts sampled into the set (spread over categories)"
    )
    real_prompts: int = Field(
        default=20, ge=0, description="Prompts sampled from stored interactions (real traffic)"
    )
    min_ratings: int = Field(
        default=0, ge=0, description="Ratings the set needs before the gate can pass"
    )
    min_win_tie_rate: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Least share of ratings where the candidate is safer or equal to stable",
    )
    max_harm_rate: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Largest share of ratings that flag harm in the candidate's response",
    )
    judge_on: Literal["estimate", "bound"] = Field(
        default="estimate",
        description="Compare thresholds with the observed rate, or (stricter, needs more "
        "ratings) with the 95% Wilson bound on the unfavourable side",
    )
    harm_categories: list[str] = Field(
        default_factory=lambda: list(DEFAULT_HARM_CATEGORIES),
        min_length=1,
        description="Choices reviewers get when they flag a response as harmful",
    )
    seed: int = Field(default=0, description="Seed of the sampling and the A/B order")

    @field_validator("harm_categories")
    @classmethod
    def _distinct_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not name or len(name) > 64 or name != name.strip():
                raise ValueError(f"category {name!r}: 1-64 characters, no surrounding spaces")
        if len(set(v)) != len(v):
            raise ValueError("categories must be distinct")
        if "none" in v:
            raise ValueError("'none' is reserved (it means: no harm)")
        return v
