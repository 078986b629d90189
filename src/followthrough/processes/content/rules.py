"""The AI content pipeline (Nexpo): brief → draft → review (automatic or human) → publish.

Pure rules here: the prompts, reading the rubric's score, splitting a draft into title and
body, and which review decisions are still allowed.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from followthrough.bounds import MAX_STORES, Hours, Id, Name
from followthrough.leads.models import E164_PATTERN

Stage = Literal["generating", "reviewing", "pending_review", "publishing", "published", "rejected", "expired"]


class ContentBrief(BaseModel):
    topic: str = Field(min_length=1, max_length=2000)
    audience: str = Field(default="", max_length=500)
    tone: str = Field(default="", max_length=200)
    format: str = Field(default="article", max_length=100)
    length_words: int = Field(default=300, ge=20, le=5000)
    keywords: list[Name] = Field(default_factory=list, max_length=30)


class ContentPipelineInput(BaseModel):
    content_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    brief: ContentBrief
    review_mode: Literal["auto", "human"] = "human"
    #: Auto review: the rubric's score (0–100) at or above which the draft is approved.
    score_threshold: int = Field(default=70, ge=0, le=100)
    #: Drafts generated at most (the first and one per rejection).
    max_rounds: int = Field(default=3, ge=1, le=10)
    #: Human review: the reminder goes out after ``reminder_after_hours`` and the review
    #: expires at ``review_timeout_hours`` (both counted from when the draft is ready).
    reminder_after_hours: Hours = 24
    review_timeout_hours: Hours = 48
    reviewer_phone: str | None = Field(default=None, pattern=E164_PATTERN)
    subscribers: list[str] = Field(default_factory=list, max_length=1000)
    #: Store names to publish to; empty = CONTENT_PUBLISH_STORES.
    publish_to: list[Id] = Field(default_factory=list, max_length=MAX_STORES)

    @model_validator(mode="after")
    def _check(self) -> ContentPipelineInput:
        if self.reminder_after_hours >= self.review_timeout_hours:
            raise ValueError("reminder_after_hours must be less than review_timeout_hours")
        bad = [p for p in self.subscribers if not re.match(E164_PATTERN, p)]
        if bad:
            raise ValueError(f"subscribers must be E.164 phone numbers ({len(bad)} are not)")
        return self

    @property
    def workflow_id(self) -> str:
        return content_workflow_id(self.content_id)


def content_workflow_id(content_id: str) -> str:
    return f"content-{content_id}"


class ReviewDecision(BaseModel):
    """The ``review`` update: a person's verdict on the pending draft."""

    approved: bool
    notes: str = Field(default="", max_length=5000)
    reviewer: str = Field(min_length=1, max_length=200)


class ReviewRecord(BaseModel):
    round: int
    approved: bool
    notes: str = ""
    reviewer: str
    score: int | None = None
    at: datetime


class ReviewOutcome(BaseModel):
    content_id: str
    round: int
    approved: bool


class ContentStatus(BaseModel):
    content_id: str
    stage: Stage
    round: int
    title: str | None = None
    body: str | None = None
    score: int | None = None
    review_pending: bool = False
    review_deadline: datetime | None = None
    reminded: bool = False
    reviews: list[ReviewRecord] = Field(default_factory=list)
    published_to: list[str] = Field(default_factory=list)
    notified: int = 0


class Rubric(BaseModel):
    score: int = Field(ge=0, le=100)
    notes: str = ""


class PlanPublishInput(BaseModel):
    requested: list[Id] = Field(default_factory=list, max_length=MAX_STORES)


class PublishTargets(BaseModel):
    stores: list[str]


class PublishContentInput(BaseModel):
    store: str
    content_id: str
    title: str | None
    body: str
    workflow_id: str
    published_at: datetime


class RecordContentInput(BaseModel):
    """The workflow's state, mirrored in the app's content_items row after every stage."""

    status: ContentStatus
    brief: ContentBrief
    review_mode: str
    max_rounds: int
    workflow_id: str


# --- pure rules ----------------------------------------------------------------------------
_SYSTEM_WRITER = (
    "You write marketing content. Answer with the piece only: a first line '# <title>', then the body in Markdown."
)
_SYSTEM_REVIEWER = (
    "You review marketing content against its brief. Score it 0-100 for fit to the brief, accuracy, clarity and "
    'tone. Answer with JSON only: {"score": <int>, "notes": "<what to improve>"}.'
)


def generation_prompt(brief: ContentBrief, previous: str | None = None, notes: str | None = None) -> tuple[str, str]:
    """(system, prompt) for a draft; a rejected draft comes back with the reviewer's notes."""
    lines = [f"Topic: {brief.topic}", f"Format: {brief.format}, about {brief.length_words} words"]
    if brief.audience:
        lines.append(f"Audience: {brief.audience}")
    if brief.tone:
        lines.append(f"Tone: {brief.tone}")
    if brief.keywords:
        lines.append(f"Keywords: {', '.join(brief.keywords)}")
    if previous is not None:
        lines += ["", "The previous draft was rejected:", previous, "", f"Reviewer notes: {notes or '(none)'}"]
        lines.append("Write a new draft that addresses every note.")
    return _SYSTEM_WRITER, "\n".join(lines)


def rubric_prompt(brief: ContentBrief, draft: str) -> tuple[str, str]:
    return _SYSTEM_REVIEWER, f"Brief: {brief.model_dump_json()}\n\nDraft:\n{draft}"


_SCORE = re.compile(r"score\W{0,5}(\d{1,3})", re.IGNORECASE)


def parse_rubric(text: str) -> Rubric:
    """The reviewer model's score: JSON ``{"score", "notes"}``, or a ``score: N`` line.

    An answer with no readable score counts as 0 (not approved), with a note saying so, so a
    confused reviewer never publishes.
    """
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if match:
        try:
            data = json.loads(match.group(0))
            score = int(data.get("score"))
            return Rubric(score=max(0, min(100, score)), notes=str(data.get("notes") or ""))
        except (ValueError, TypeError, AttributeError):
            pass
    found = _SCORE.search(text)
    if found:
        return Rubric(score=max(0, min(100, int(found.group(1)))), notes=text.strip()[:2000])
    return Rubric(score=0, notes="the rubric answer had no readable score")


def split_draft(text: str) -> tuple[str | None, str]:
    """A draft's title (its first line, without '#' or 'Title:') and body."""
    stripped = text.strip()
    first, _, rest = stripped.partition("\n")
    title = re.sub(r"^(#+\s*|title:\s*)", "", first.strip(), flags=re.IGNORECASE).strip()
    if first.lstrip().startswith("#") or first.lower().startswith("title:"):
        return title[:300] or None, rest.strip()
    return None, stripped


def review_refusal(stage: str, pending_round: int | None, reviews: list[ReviewRecord]) -> str | None:
    """Why a ``review`` decision cannot be taken now, or None when a review is pending."""
    if pending_round is not None:
        return None
    if reviews:
        last = reviews[-1]
        verdict = "approved" if last.approved else "rejected"
        return f"the review of round {last.round} was already decided ({verdict} by {last.reviewer}); stage is {stage}"
    if stage == "expired":
        return "the review deadline passed; the content expired"
    return f"no review is pending (stage is {stage})"
