"""``tasks.<task>.behaviour``: behavioural checks register runs on each exported bundle (issue 24).

Three kinds, each a list of named cases:

- ``invariance``: ``changed`` alters ``input`` in a way that must not change the answer (a typo,
  another name);
- ``direction``: ``changed`` must move the score ``expect``-wards: ``lower``, ``higher``,
  ``not higher`` or ``not lower``. The score is the probability of ``of_class`` (default: a two-class
  model's positive class; a multi-class model must name one), or a numeric target's value;
- ``minimum``: ``input`` must be answered ``expect`` (a class's name or value).

An input is what one request row is for the kind: a text for a text task, a row (``{column: value}``)
for a table, where ``changed`` names only the columns it alters. An empty section checks nothing.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from pipeline.core.config_base import Frozen, LabelValue

CheckInput = str | dict[str, Any]


class InvarianceCheck(Frozen):
    name: str = Field(min_length=1)
    input: CheckInput
    changed: CheckInput


class DirectionCheck(Frozen):
    name: str = Field(min_length=1)
    input: CheckInput
    changed: CheckInput
    expect: Literal["lower", "higher", "not higher", "not lower"]
    of_class: LabelValue | None = None


class MinimumCheck(Frozen):
    name: str = Field(min_length=1)
    input: CheckInput
    expect: LabelValue


class BehaviourConfig(Frozen):
    invariance: list[InvarianceCheck] = Field(default_factory=list)
    direction: list[DirectionCheck] = Field(default_factory=list)
    minimum: list[MinimumCheck] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names_are_unique(self) -> BehaviourConfig:
        names = [check.name for check in self.checks()]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"each check needs its own name; given more than once: {', '.join(twice)}")
        return self

    def checks(self) -> list[InvarianceCheck | DirectionCheck | MinimumCheck]:
        return [*self.invariance, *self.direction, *self.minimum]

    def keyed(self) -> list[tuple[str, InvarianceCheck | DirectionCheck | MinimumCheck]]:
        """Each check with its key below the section (``direction.0``, as params errors name keys)."""
        return [
            (f"{kind}.{i}", check)
            for kind in ("invariance", "direction", "minimum")
            for i, check in enumerate(getattr(self, kind))
        ]
