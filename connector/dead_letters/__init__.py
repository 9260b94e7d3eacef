"""Dead letters: the record format with its context headers, the acknowledged writer, and
replay to the failed integration's retry topic."""

from connector.dead_letters.headers import (
    DeadLetter,
    DeadLetterContext,
    Failure,
    Header,
    Headers,
    Stage,
    dead_letter_headers,
)
from connector.dead_letters.producer import DeadLetterProducer
from connector.dead_letters.replay import ReplayReport, ReplayTargets, replay
from connector.dead_letters.replay_plan import Decision, Reason, ReplayFilter

__all__ = [
    "DeadLetter",
    "DeadLetterContext",
    "DeadLetterProducer",
    "Decision",
    "Failure",
    "Header",
    "Headers",
    "Reason",
    "ReplayFilter",
    "ReplayReport",
    "ReplayTargets",
    "Stage",
    "dead_letter_headers",
    "replay",
]
