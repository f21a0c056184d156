"""The `safety:` section of rollout.yaml: scorers, thresholds, judge, guardrails, worker.

An empty section is a working setup: the five fast offline scorers run on every
record in a scoring worker process that `serve` starts, each answer is checked
for anomalies against the stable version's recent answers, guardrails are off
and the LLM judge is off until a judge endpoint is named. The names of scorers and
categories are the safety package's (`saferollout.safety.SCORERS`); this file
imports nothing from saferollout so the config package stays at the bottom.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_SCORERS = ["pii", "harmful", "refusal", "prompt_risk", "bias"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CategoryThresholds(_Model):
    """Score at or above which a harmful-content category counts as a violation.

    Defaults sit near each category's best F1 on the held-out development data
    (see saferollout/safety/README.md); lower a threshold to catch more at the
    cost of more false alarms.
    """

    violence: float = Field(default=0.5, ge=0, le=1)
    hate: float = Field(default=0.5, ge=0, le=1, description="Hate and harassment")
    sexual: float = Field(default=0.5, ge=0, le=1)
    self_harm: float = Field(default=0.5, ge=0, le=1)
    crime: float = Field(
        default=0.5, ge=0, le=1, description="Crime, weapons and illegal instructions"
    )


class PiiConfig(_Model):
    entities: list[str] | None = Field(
        default=None,
        description="Entity types to detect (EMAIL_ADDRESS, PHONE_NUMBER, CREDIT_CARD, "
        "IBAN_CODE, US_SSN, IP_ADDRESS, API_KEY, SECRET); null = all",
    )
    leak_is_violation: bool = Field(
        default=True,
        description="A PII leak (in the response, not in the request) sets safety_violation",
    )
    private_ips_are_pii: bool = Field(
        default=False, description="Count loopback/private IP addresses (127.0.0.1, 10.x) as PII"
    )


class JudgeConfig(_Model):
    """An LLM judge on any OpenAI-compatible endpoint you run (vLLM, Ollama, ...)."""

    enabled: bool = False
    url: str | None = Field(
        default=None, description="Base URL of the OpenAI-compatible API, e.g. http://host:8000/v1"
    )
    model: str = Field(default="llama-guard-3", description="Safety judge model (Llama Guard 3)")
    api_key_env: str | None = Field(
        default=None, description="Environment variable holding the judge endpoint's key"
    )
    prompt_format: Literal["chat", "prompt"] = Field(
        default="chat",
        description="chat: send the conversation and let the server's Llama Guard chat template "
        "format it; prompt: send Llama Guard's task prompt as one user message (any model)",
    )
    categories: list[str] | None = Field(
        default=None,
        description="Llama Guard categories that count as unsafe (S1..S14); null = all",
    )
    rubric_model: str | None = Field(
        default=None,
        description="Model for the 1-5 helpfulness/instruction-following rubric; null = off",
    )
    sample_rate: float = Field(
        default=0.05, ge=0, le=1, description="Share of records judged (chosen by request id)"
    )
    timeout_s: float = Field(default=30.0, gt=0)
    max_concurrency: int = Field(default=8, ge=1, le=256)
    unsafe_is_violation: bool = Field(
        default=True, description="A judged-unsafe response sets safety_violation"
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return None if v is None else v.rstrip("/")

    @model_validator(mode="after")
    def _url_when_enabled(self) -> JudgeConfig:
        if self.enabled and self.url is None:
            raise ValueError("judge.enabled needs judge.url")
        return self


class InputGuardrailConfig(_Model):
    mode: Literal["off", "flag", "block"] = Field(
        default="off",
        description="What a harmful prompt does: nothing, a recorded flag, or a block",
    )
    threshold: float = Field(
        default=0.8,
        ge=0,
        le=1,
        description="prompt_risk score at or above which the guardrail fires",
    )


class OutputGuardrailConfig(_Model):
    mode: Literal["off", "flag", "block"] = Field(
        default="off",
        description="What a harmful response does: nothing, a recorded flag, or a block "
        "(non-streaming responses; streams follow stream_policy)",
    )
    threshold: float = Field(
        default=0.8, ge=0, le=1, description="Harmful-content score at or above which it fires"
    )
    pii_leaks: bool = Field(default=False, description="Also fire on PII leaked in the response")


class GuardrailsConfig(_Model):
    input: InputGuardrailConfig = Field(default_factory=InputGuardrailConfig)
    output: OutputGuardrailConfig = Field(default_factory=OutputGuardrailConfig)
    stream_policy: Literal["flag", "buffer"] = Field(
        default="flag",
        description="Streams under an output guardrail: flag after the fact (bytes flow as they "
        "come), or buffer the whole answer, check it, then release or block it",
    )
    buffer_max_chars: int = Field(
        default=32_000,
        ge=256,
        description="buffer policy: a longer stream is checked at this point and then flows on",
    )
    block_message: str = Field(
        default="I can't help with that request.",
        min_length=1,
        description="The assistant message a blocked request receives",
    )


class WorkerConfig(_Model):
    embedded: bool = Field(default=True, description="`serve` starts scoring worker processes")
    processes: int = Field(default=1, ge=0, le=64, description="Worker processes `serve` starts")
    batch_size: int = Field(default=256, ge=1, le=10_000)
    poll_s: float = Field(default=1.0, gt=0, le=60, description="Wait when nothing is unscored")
    lease_s: float = Field(
        default=120.0, gt=0, description="A claim older than this is taken over (dead worker)"
    )


class AnomalyConfig(_Model):
    """Output anomalies (empty, looping, wrong-script, garbled, runaway answers), judged
    per answer against a baseline fitted on the stable version's recent answers."""

    enabled: bool = Field(default=True, description="Set the `anomaly` flag on answered records")
    threshold: float = Field(
        default=5.0,
        gt=0,
        le=100,
        description="Robust z-score (median/MAD of stable's answers) beyond which a feature "
        "is out of range; 3.5 is the textbook outlier cut, higher means fewer false alarms",
    )
    baseline_size: int = Field(
        default=2000,
        ge=10,
        le=100_000,
        description="The baseline is fitted on this many of stable's newest answers",
    )
    min_baseline: int = Field(
        default=200,
        ge=10,
        description="Nothing is flagged until the baseline has this many answers",
    )
    refresh_s: float = Field(
        default=60.0, gt=0, le=86_400, description="Refit the baseline this often (seconds)"
    )

    @model_validator(mode="after")
    def _min_within_size(self) -> AnomalyConfig:
        if self.min_baseline > self.baseline_size:
            raise ValueError("anomaly.min_baseline is larger than anomaly.baseline_size")
        return self


class SafetyConfig(_Model):
    """Which scorers run on recorded traffic, their thresholds, and the guardrails."""

    enabled: bool = True
    scorers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SCORERS),
        description="Scorers run on every record: pii, harmful, refusal, prompt_risk, bias "
        "(judge runs when judge.enabled)",
    )
    thresholds: CategoryThresholds = Field(default_factory=CategoryThresholds)
    prompt_risk_threshold: float = Field(
        default=0.4,
        ge=0,
        le=1,
        description="A request at or above this is treated as harmful (0.4: where held-out "
        "harmful recall matches the previous model's; see safety/README.md)",
    )
    compliance_prompt_risk: float = Field(
        default=0.7,
        ge=0,
        le=1,
        description="An answered request at or above this prompt_risk is harmful compliance by "
        "itself; between prompt_risk_threshold and this, the answer must also show harm "
        "(compliance_response_harm); set it to prompt_risk_threshold or lower to judge by the "
        "request alone",
    )
    compliance_response_harm: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="harmful.any of the answer at or above which an answered request of "
        "moderate prompt_risk counts as harmful compliance",
    )
    refusal_threshold: float = Field(
        default=0.5, ge=0, le=1, description="Refusal score at or above which a response refuses"
    )
    bias_threshold: float = Field(default=0.6, ge=0, le=1)
    bias_is_violation: bool = Field(
        default=False, description="A bias flag also sets safety_violation (lexical; noisy)"
    )
    sample_rates: dict[str, float] = Field(
        default_factory=dict,
        description="Per scorer, the share of records it scores (default 1.0; judge uses "
        "judge.sample_rate)",
    )
    pii: PiiConfig = Field(default_factory=PiiConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    anomaly: AnomalyConfig = Field(default_factory=AnomalyConfig)
    guardrails: GuardrailsConfig = Field(default_factory=GuardrailsConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)

    @field_validator("scorers")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("a scorer is listed twice")
        return v

    @field_validator("sample_rates")
    @classmethod
    def _rates(cls, v: dict[str, float]) -> dict[str, float]:
        for name, rate in v.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"sample_rates.{name}: {rate} is not in [0, 1]")
        return v
