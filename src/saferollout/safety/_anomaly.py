"""Output anomalies: each answer judged against the stable version's recent answers.

A broken candidate often fails in ways no safety scorer looks for: empty
answers, loops ("the the the ..."), mojibake and control characters, answers
in another script than the question, runaway or truncated lengths. The
features and the robust z-scores are the analysis package's
(`analysis.output_features`, `RobustBaseline`, `score_output`: median and MAD
of stable's answers, a feature out of range at `threshold` robust z-scores);
this module computes them fast enough for the scoring pipeline and keeps the
baseline current.

Why a pipeline stage and not a registered `Scorer`: a scorer is a pure
function of one interaction built from config (`Scorer.from_config`), measured
by the harness on labeled files. An anomaly is relative to a population that
lives in the store and changes (the stable version's recent answers, and which
version is stable changes at a promotion), and there is no labeled file to
measure it on. So the pipeline owns one `AnomalyDetector` (when it has a
store) and runs it after the scorers on every answered record.

The baseline (`AnomalyDetector.baseline`): the newest `anomaly.baseline_size`
answers of the baseline version (`Store.recent_responses`), refitted every
`anomaly.refresh_s` seconds and at once when the baseline version changes.
The baseline version is `stable` in the rollout's state in the store (it
changes at a promotion and back at a rollback), else the configured stable
version. With fewer than `anomaly.min_baseline` answers nothing is flagged and
the evidence says "no baseline yet". The stable version's own records are
judged too, so its anomaly rate is the false-alarm floor the candidate's is
compared with. A store error while refitting keeps the last baseline: the
baseline must never make scoring fail.

Speed: `analysis.output_features` looks every character up in the Unicode
database (~1 ms for a 200-word answer: it would cut the pipeline's throughput
by four). `batch_features` gives the same values from C-level passes
(`bytes.translate` over the ASCII part, a cached lookup per distinct
non-ASCII character) with two deliberate differences: repetition counts
3-grams of the pipeline's shared tokens (`TextView.tokens`: apostrophes
dropped, so "don't" is one word where `\\w+` sees two), and the refusal
feature is not detected here but taken from the refusal scorer when it ran
(it is not scored either way: refusals have their own metrics). A numpy sort
of the batch's 3-grams was tried: no faster inside the pipeline than a set of
tuples. The baseline is fitted with no expected script (mixed scripts within
an answer); an answer is scored with its question's script as the expected
one, so an answer in another script than the question is out of range
(stable's answers almost never are, so the baseline's median and MAD of that
feature are ~0 either way).
"""

from __future__ import annotations

import logging
import math
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from saferollout.analysis import (
    AnomalyScore,
    OutputFeatures,
    RobustBaseline,
    dominant_script,
    score_output,
)

from ._text import TextView
from ._types import Interaction, ScoreResult

if TYPE_CHECKING:
    from saferollout.config import SafetyConfig
    from saferollout.store import Store

log = logging.getLogger("saferollout.safety")

#: The rollout state is read at most this often (seconds) to notice a promotion.
VERSION_CHECK_S = 5.0
#: A baseline that is not ready (too few answers, store error) is retried this often at most.
RETRY_S = 10.0
NO_BASELINE = "no baseline yet"

# -- features -----------------------------------------------------------------------------

# ASCII bytes -> class: L letter, S whitespace (str.isspace), C visible control character
# (category Cc, not whitespace), . anything else; non-ASCII characters are looked up.
_ASCII_CLASS = bytes(
    ord(
        "L"
        if c < 128 and chr(c).isalpha()
        else "S"
        if c < 128 and chr(c).isspace()
        else "C"
        if c < 128 and unicodedata.category(chr(c)) == "Cc"
        else "."
    )
    for c in range(256)
)
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_CHAR_CACHE: dict[str, tuple[bool, str | None, bool]] = {}


def _char_info(ch: str) -> tuple[bool, str | None, bool]:
    """(whitespace, script of a letter, non-text) of one character, as analysis defines them."""
    info = _CHAR_CACHE.get(ch)
    if info is None:
        category = unicodedata.category(ch)
        script = None
        if category.startswith("L"):
            name = unicodedata.name(ch, "")
            script = name.split(" ", 1)[0] if name else None
        space = ch.isspace()
        non_text = not space and (ch == "\ufffd" or category.startswith("C"))
        if len(_CHAR_CACHE) > 50_000:  # bounded: arbitrary input must not grow it forever
            _CHAR_CACHE.clear()
        info = _CHAR_CACHE[ch] = (space, script, non_text)
    return info


def _char_stats(text: str) -> tuple[int, int, dict[str, int], str | None]:
    """(visible characters, non-text characters, letters per script, dominant script):
    exactly what `analysis.output_features` counts, in a few C-level passes."""
    classes = text.encode("ascii", "replace").translate(_ASCII_CLASS)  # non-ASCII -> "?" -> .
    latin, spaces = classes.count(b"L"), classes.count(b"S")
    non_text = classes.count(b"C") if b"C" in classes else 0  # `in` is a memchr
    if text.isascii():
        return (
            len(text) - spaces,
            non_text,
            ({"LATIN": latin} if latin else {}),
            ("LATIN" if latin else None),
        )
    scripts: dict[str, int] = {"LATIN": latin} if latin else {}
    for ch, n in Counter("".join(_NON_ASCII.findall(text))).items():
        space, script, odd = _char_info(ch)
        spaces += n * space
        non_text += n * odd
        if script is not None:
            scripts[script] = scripts.get(script, 0) + n
    dominant = None
    if scripts:
        top = max(scripts.values())
        leaders = [s for s, n in scripts.items() if n == top]
        # A tie goes to the script that comes first in the text, as in analysis.
        dominant = leaders[0] if len(leaders) == 1 else dominant_script(text)
    return len(text) - spaces, non_text, scripts, dominant


def text_script(text: str) -> str | None:
    """The script most letters of `text` are in (`analysis.dominant_script`, faster)."""
    if text.isascii():  # a letter is all it takes; lower() != upper() says there is one
        return "LATIN" if text.lower() != text.upper() else None
    return _char_stats(text)[3]


def _repetition(tokens: Sequence[str], text: str) -> float:
    """Share of repeated word 3-grams; character 5-grams for text without spaces."""
    if len(tokens) >= 4:
        grams = len(tokens) - 2
        return 1.0 - len(set(zip(tokens, tokens[1:], tokens[2:], strict=False))) / grams
    squashed = "".join(text.split())
    if len(squashed) >= 20:
        grams = len(squashed) - 4
        return 1.0 - len({squashed[i : i + 5] for i in range(grams)}) / grams
    return 0.0


def batch_features(
    views: Sequence[TextView],
    *,
    expected_scripts: Sequence[str | None] | None = None,
    refusals: Sequence[bool] | None = None,
) -> list[OutputFeatures]:
    """`analysis.output_features(text, expected_script=...)` of each view's text, fast
    (see module doc). `refusals` are passed through, not detected: the pipeline gives
    the refusal scorer's verdicts (the feature is not scored)."""
    expected = expected_scripts or [None] * len(views)
    refused = refusals or [False] * len(views)
    out = []
    for view, exp, ref in zip(views, expected, refused, strict=True):
        text = view.text
        visible, non_text, scripts, script = _char_stats(text)
        letters = sum(scripts.values())
        reference = exp or script
        out.append(
            OutputFeatures(
                length=len(text),
                repetition=_repetition(view.tokens, text),
                empty=visible == 0,
                non_text_ratio=non_text / visible if visible else 0.0,
                script=script,
                off_script_ratio=(letters - scripts.get(reference or "", 0)) / letters
                if letters
                else 0.0,
                refusal=ref,
            )
        )
    return out


def answer_features(
    text: str, *, expected_script: str | None = None, refusal: bool = False
) -> OutputFeatures:
    """One answer's features (`batch_features` of one)."""
    views = [TextView(text)]
    (features,) = batch_features(views, expected_scripts=[expected_script], refusals=[refusal])
    return features


# -- the baseline ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Baseline:
    """The fitted reference: whose answers, how many, and the fit (None until enough)."""

    version: str | None
    samples: int  # non-empty answers found
    model: RobustBaseline | None
    fitted_at: float

    @property
    def ready(self) -> bool:
        return self.model is not None

    @classmethod
    def fit(
        cls, texts: Iterable[str], *, version: str | None, min_samples: int, at: float = 0.0
    ) -> Baseline:
        features = [f for f in batch_features([TextView(t) for t in texts]) if not f.empty]
        model = RobustBaseline.fit(features) if len(features) >= min_samples else None
        return cls(version=version, samples=len(features), model=model, fitted_at=at)


class AnomalyDetector:
    """Scores answers against a baseline of the stable version's recent answers.

    With a `store`, the baseline is fitted from it and kept current (module
    doc); `rollout` names the rollout whose state says which version is
    stable, `baseline_version` is the version to use when there is no state.
    Without a store, `fit` sets a fixed baseline (tests, offline use).
    """

    def __init__(
        self,
        config: SafetyConfig | None = None,
        store: Store | None = None,
        *,
        rollout: str | None = None,
        baseline_version: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from saferollout.config import SafetyConfig

        self.config = (config or SafetyConfig()).anomaly
        self.store = store
        self.rollout = rollout
        self.fallback_version = baseline_version
        self.clock = clock
        self._baseline = Baseline(None, 0, None, -math.inf)
        self._version: str | None = None
        self._version_checked = -math.inf
        self._next_fit = -math.inf
        self._retry_at = -math.inf

    # -- baseline ------------------------------------------------------------------------

    def fit(self, texts: Iterable[str], *, version: str | None = None) -> Baseline:
        """Fit the baseline on these answers (a detector with a store refits by itself)."""
        self._baseline = Baseline.fit(
            texts, version=version, min_samples=self.config.min_baseline, at=self.clock()
        )
        return self._baseline

    def baseline_version(self) -> str | None:
        """`stable` from the rollout's state in the store, else the configured version."""
        now = self.clock()
        if now - self._version_checked < VERSION_CHECK_S:
            return self._version
        self._version_checked = now
        version = self.fallback_version
        if self.store is not None and self.rollout is not None:
            try:
                loaded = self.store.load_state(self.rollout)
            except Exception as exc:  # keep the last known version; scoring goes on
                log.warning("anomaly baseline: reading rollout state failed: %s", exc)
                return self._version or version
            if loaded is not None and loaded[1].get("stable"):
                version = str(loaded[1]["stable"])
        self._version = version
        return version

    def baseline(self) -> Baseline:
        """The current baseline, refitted from the store when due."""
        if self.store is None:
            return self._baseline
        version = self.baseline_version()
        now = self.clock()
        due = now >= self._next_fit or version != self._baseline.version
        if due and version is not None and now >= self._retry_at:
            self._refit(version, now)
        return self._baseline

    def _refit(self, version: str, now: float) -> None:
        assert self.store is not None
        retry = min(RETRY_S, self.config.refresh_s)
        try:
            texts = self.store.recent_responses(version, self.config.baseline_size)
        except Exception as exc:
            # The last baseline stands (even another version's: better than judging
            # nothing right after a promotion) until a retry succeeds.
            log.warning("anomaly baseline of %r not refreshed: %s", version, exc)
            self._retry_at = now + retry
            return
        fitted = Baseline.fit(texts, version=version, min_samples=self.config.min_baseline, at=now)
        self._baseline = fitted
        self._next_fit = now + (self.config.refresh_s if fitted.ready else retry)
        self._retry_at = -math.inf
        log.info(
            "anomaly baseline: %d answers of %r%s",
            fitted.samples,
            version,
            "" if fitted.ready else f" (flagging starts at {self.config.min_baseline})",
        )

    # -- scoring -------------------------------------------------------------------------

    def score_batch(
        self, items: Sequence[Interaction], *, refusals: Sequence[bool] | None = None
    ) -> list[ScoreResult]:
        """One result per answered item: score `anomaly` in [0, 1], flag `anomaly`,
        and evidence naming the features out of range (or why nothing was judged)."""
        baseline = self.baseline()
        if baseline.model is None:
            evidence = {
                "skipped": NO_BASELINE,
                "baseline": baseline.version,
                "baseline_n": baseline.samples,
            }
            return [ScoreResult(evidence=dict(evidence)) for _ in items]
        threshold = self.config.threshold
        features = batch_features(
            [item.response_view for item in items],
            expected_scripts=[text_script(item.prompt) for item in items],
            refusals=refusals,
        )
        return [
            _result(score_output(f, baseline.model, threshold=threshold), threshold, baseline)
            for f in features
        ]


def _result(result: AnomalyScore, threshold: float, baseline: Baseline) -> ScoreResult:
    # result.score is the largest z in the bad direction (inf when empty); z / (z + threshold)
    # is 0.5 at the threshold and tends to 1, so it reads like the other scorers' scores.
    worst = max(result.score, 0.0)
    score = 1.0 if math.isinf(worst) else worst / (worst + threshold)
    evidence: dict[str, Any] = {}
    if result.anomalous:
        # reasons read "<feature> z=<value>", or "empty output"
        names = [r.split(" z=", 1)[0] if " z=" in r else "empty" for r in result.reasons]
        evidence = {
            "out_of_range": names,
            "z": {n: round(float(result.z[n]), 1) for n in names if n in result.z},
            "baseline": baseline.version,
            "baseline_n": baseline.samples,
        }
    return ScoreResult(
        scores={"anomaly": round(score, 4)}, flags={"anomaly": result.anomalous}, evidence=evidence
    )
