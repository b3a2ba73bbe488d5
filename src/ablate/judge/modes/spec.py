"""What a judge mode is, in one object: its chat template, how a verdict is read from a reply,
the repair request, what each verdict scores (its outcomes, whose shares are reported), whether
it compares a response with a reference, which backends can grade it, and its own config
checks. Adding a mode is one new module holding a `MODE = JudgeMode(...)` and one line in
ablate.judge.modes.JUDGE_MODES."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ablate.config.schema import Config
from ablate.judge.prompt import SYSTEM, JudgeTemplate


def no_checks(config: Config) -> list[str]:
    return []


def repair_request(missing: str, wanted: str) -> str:
    """The one follow-up after a reply without a verdict: name what is missing, ask for it."""
    return f"Your reply did not end with {missing}. Reply with only {wanted}, and nothing else."


@dataclass(frozen=True)
class JudgeMode:
    name: str
    # Part of every judge key and cached request: bump it when the mode's text or reading
    # changes, so old judgments and replies are not reused.
    version: int
    fields: tuple[str, ...]  # the named fields its chat template must use (and may use)
    user: str  # the built-in chat template's user message
    read: Callable[[str], str | None]  # the verdict on a reply's (cleaned) last line, or None
    repair: str  # the one follow-up request when a reply ends without a verdict
    # verdict -> score, in the order reports list them; None: the verdict is the score
    scores: Mapping[str, float] | None = None
    paired: bool = False  # compares a response with a reference, asked in both orders
    backends: tuple[str, ...] = ("openai",)
    checks: Callable[[Config], list[str]] = no_checks
    why_not: Callable[[str], str | None] = field(default=lambda line: None)  # a better reason

    @property
    def outcomes(self) -> tuple[str, ...]:
        """The named verdicts whose shares (with intervals) are reported; none for a scale."""
        return tuple(self.scores or ())

    @property
    def calls_per_sample(self) -> int:
        return 2 if self.paired else 1

    def template(self) -> JudgeTemplate:
        return JudgeTemplate(self.name, f"{self.name}-v{self.version}", SYSTEM, self.user)
