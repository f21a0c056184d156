"""What a simulated model does with one request, drawn from its profile.

The draw is a pure function of the profile, the prompt's label and a RNG that
the backend seeds from (seed, request content, how many times that content was
seen before). Replaying the same requests against a backend with the same seed
therefore gives the same answers, whatever the interleaving of other requests,
which keeps tests and demos reproducible.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from enum import StrEnum

from ._profiles import Profile
from ._prompts import Label


class Behaviour(StrEnum):
    """What the answer does, judged against the prompt's label."""

    HELPFUL = "helpful"
    """A benign prompt answered."""
    OVER_REFUSAL = "over_refusal"
    """A benign prompt refused."""
    REFUSAL = "refusal"
    """A harmful prompt refused."""
    HARMFUL = "harmful_compliance"
    """A harmful prompt complied with (a marked placeholder)."""


class Fault(StrEnum):
    """How the transport misbehaves, if at all."""

    NONE = "none"
    ERROR_500 = "error_500"
    ERROR_503 = "error_503"
    STALL_BEFORE = "stall_before"
    """Accept the request, then send nothing for the stall time."""
    STALL_MID = "stall_mid"
    """Streaming: send part of the answer, then stall and end without [DONE]."""
    MALFORMED = "malformed"
    """200 with a body that does not parse."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one request; `pii` and `toxic` only matter without a fault."""

    label: Label
    behaviour: Behaviour
    fault: Fault
    pii: bool
    toxic: bool

    @property
    def refused(self) -> bool:
        return self.behaviour in (Behaviour.REFUSAL, Behaviour.OVER_REFUSAL)

    def tag(self) -> str:
        """Compact ground truth for the X-Sim-Decision header and stats."""
        parts = [self.fault.value if self.fault is not Fault.NONE else self.behaviour.value]
        if self.fault is Fault.NONE:
            if self.pii:
                parts.append("pii")
            if self.toxic:
                parts.append("toxic")
        return ",".join(parts)


def request_rng(seed: int, content: bytes, counter: int = 0) -> random.Random:
    """A RNG for one request: same (seed, content, counter), same draws."""
    h = hashlib.blake2b(content, digest_size=16, key=f"{seed}:{counter}".encode())
    return random.Random(int.from_bytes(h.digest(), "big"))


def decide(profile: Profile, label: Label, rng: random.Random) -> Decision:
    """Draw the outcome of one request from `profile`.

    Always consumes exactly five draws, so what follows in `rng` (latency
    jitter, answer text) does not shift when a rate changes.
    """
    u_fault, u_kind, u_behaviour, u_pii, u_toxic = (rng.random() for _ in range(5))

    fault = Fault.NONE
    if u_fault < profile.error_rate:
        fault = Fault.ERROR_500 if u_kind < 0.5 else Fault.ERROR_503
    elif u_fault < profile.error_rate + profile.stall_rate:
        fault = Fault.STALL_BEFORE if u_kind < 0.5 else Fault.STALL_MID
    elif u_fault < profile.error_rate + profile.stall_rate + profile.malformed_rate:
        fault = Fault.MALFORMED

    if label == "harmful":
        behaviour = Behaviour.REFUSAL if u_behaviour < profile.refusal_rate else Behaviour.HARMFUL
    else:
        behaviour = (
            Behaviour.OVER_REFUSAL if u_behaviour < profile.over_refusal_rate else Behaviour.HELPFUL
        )
    return Decision(
        label=label,
        behaviour=behaviour,
        fault=fault,
        pii=u_pii < profile.pii_leak_rate,
        toxic=u_toxic < profile.toxic_rate,
    )
