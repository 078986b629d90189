"""Signals that mean the same to every workflow that takes them: pause and resume.

A deployment and a campaign (its orchestrator, each lead's outreach, a sender) handle ``pause``
and ``resume`` with these models, so a client sends one shape to any of them. The signal names
on the wire are each workflow's handler names; only the payload's model lives here.
"""

from __future__ import annotations

from pydantic import BaseModel

from followthrough.bounds import Text


class PauseSignal(BaseModel):
    reason: Text | None = None


class ResumeSignal(BaseModel):
    reason: Text | None = None
