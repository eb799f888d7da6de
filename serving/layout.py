"""The Redis key layout: every key name Kairos reads or writes is built here.

Documented in docs/redis-layout.md. Two families:

* **control keys** share the hash tag ``{kairos}`` so they live in one Redis Cluster slot and a
  Lua script may touch several of them atomically (the pointer flip):
  ``kairos:{kairos}:live`` (the live run id), ``kairos:{kairos}:runs`` (sorted set of run ids
  by creation time), ``kairos:{kairos}:run:<run>`` (run metadata hash) and
  ``kairos:{kairos}:run:<run>:parts`` (rows written per Spark partition).
* **data keys** carry the run id and no hash tag, so a run spreads over the cluster:
  ``kairos:run:<run>:c:<customer_id>`` (hash: score, decile, segment, model, version,
  scored_at), ``kairos:run:<run>:z:<model>`` and ``kairos:run:<run>:z:<model>:seg:<segment>``
  (sorted sets: member = customer id, score = propensity). Readers only follow the pointer,
  and no command ever spans two data keys.

A run's keys never change once the pointer names it; a new run writes new keys and flips.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "kairos"
_CTL = f"{PREFIX}:{{kairos}}"


@dataclass(frozen=True)
class Layout:
    """Key names, optionally under a namespace (tests, several deployments on one Redis)."""

    namespace: str = ""

    @property
    def _ctl(self) -> str:
        return f"{self.namespace}{_CTL}"

    @property
    def _data(self) -> str:
        return f"{self.namespace}{PREFIX}"

    @property
    def live(self) -> str:
        return f"{self._ctl}:live"

    @property
    def runs(self) -> str:
        return f"{self._ctl}:runs"

    @property
    def counter(self) -> str:
        return f"{self._ctl}:run_counter"

    def meta(self, run: str) -> str:
        return f"{self._ctl}:run:{run}"

    def parts(self, run: str) -> str:
        return f"{self._ctl}:run:{run}:parts"

    def summary(self, run: str) -> str:
        """Counts of a run by ``decile:<n>``, ``segment:<name>`` and ``model:<name>``."""
        return f"{self._ctl}:run:{run}:summary"

    def run_prefix(self, run: str) -> str:
        """Prefix of every data key of a run (for expiry by SCAN)."""
        return f"{self._data}:run:{run}:"

    def customer(self, run: str, customer_id: str) -> str:
        return f"{self.run_prefix(run)}c:{customer_id}"

    def model_scores(self, run: str, model: str) -> str:
        return f"{self.run_prefix(run)}z:{model}"

    def segment_scores(self, run: str, model: str, segment: str) -> str:
        return f"{self.run_prefix(run)}z:{model}:seg:{segment}"

    def scored_in(self, run: str, model: str, segment: str | None) -> list[str]:
        """The sorted sets of ``run`` a customer row of ``model`` and ``segment`` sits in."""
        sets = [self.model_scores(run, model)]
        return [*sets, self.segment_scores(run, model, segment)] if segment else sets

    def consent_exceptions(
        self, run: str, model: str, channel: str, segment: str | None = None
    ) -> str:
        """Sorted set (member = customer, score = propensity): the run's customers whose
        consent to ``channel`` differs from the policy default, so a channel's reach over any
        score range is one ``ZCOUNT`` (:mod:`serving.reach`)."""
        scores = (
            self.segment_scores(run, model, segment) if segment else self.model_scores(run, model)
        )
        return f"{scores}:consent:{channel}"

    def exceptions_of(
        self, run: str, model: str, segment: str | None, channels: list[str]
    ) -> list[str]:
        """Every consent exception set a customer of ``model`` and ``segment`` may sit in."""
        return [
            self.consent_exceptions(run, model, channel, seg)
            for channel in channels
            for seg in ([None, segment] if segment else [None])
        ]

    def deciles(self, run: str) -> str:
        """Hash: ``<model>:<decile>`` -> ``"<lowest> <highest>"`` score of that decile."""
        return f"{self._ctl}:run:{run}:deciles"

    @property
    def run_history(self) -> str:
        """List (newest first): one JSON line per run that finished writing (live, complete
        or failed) with its counts by segment; the console's "last runs"."""
        return f"{self._ctl}:run_history"

    @property
    def pipeline_health(self) -> str:
        """Hash: the last hourly run's data-quality figures (quarantine share, duplicate
        rate, identity match rate) and the champion's holdout metrics, as JSON fields."""
        return f"{self._ctl}:pipeline_health"

    def decision_counts(self, bucket: int) -> str:
        """Hash: ``<rule>|<outcome>`` -> decisions recorded in one 5-minute bucket (epoch
        seconds // 300); expires after a day."""
        return f"{self._ctl}:decision_counts:{bucket}"

    @property
    def consent_changed(self) -> str:
        """Sorted set: customers whose channel consent changed through the API, by time (ms);
        each run re-reads their consent as it goes live (the lake may not have it yet)."""
        return f"{self._ctl}:consent_changed"

    @property
    def scoring_withdrawn(self) -> str:
        """Sorted set: customers who withdrew scoring consent through the API, by time (ms);
        removed from every run as they withdraw and from each run again when it goes live."""
        return f"{self._ctl}:scoring_withdrawn"

    # --- live customer state (written by the API; keys tagged by customer) ---------------
    # Every key of one customer shares the hash tag ``{<customer>}``, so a Lua script may read
    # consent and consume a frequency cap in one atomic step, on one cluster slot.

    def _customer_state(self, customer_id: str) -> str:
        return f"{self._data}:cust:{{{customer_id}}}"

    def customer_state_match(self, subject: str) -> str:
        """``SCAN`` pattern of every live state key of a customer (or ``anon:<id>``)."""
        return f"{self._customer_state(subject)}:*"

    def consent(self, customer_id: str) -> str:
        return f"{self._customer_state(customer_id)}:consent"

    def session(self, subject: str) -> str:
        return f"{self._customer_state(subject)}:session"

    def cap(self, customer_id: str, rule: str) -> str:
        return f"{self._customer_state(customer_id)}:cap:{rule}"

    def journey(self, customer_id: str, rule: str) -> str:
        """Hash: one journey rule's window for the customer (:mod:`serving.journeys`)."""
        return f"{self._customer_state(customer_id)}:journey:{rule}"

    def seen(self, customer_id: str) -> str:
        """Hash: event type -> newest ``occurred_at`` (ms), for the types rules exit on."""
        return f"{self._customer_state(customer_id)}:seen"

    def suppressed(self, customer_id: str) -> str:
        """String: no message to the customer until this time (ms); expires then."""
        return f"{self._customer_state(customer_id)}:suppressed"

    def sent(self, customer_id: str) -> str:
        """Sorted set: messages sent to the customer in the last day (the cross-rule limit)."""
        return f"{self._customer_state(customer_id)}:sent"

    def ingested(self, subject: str, event_id: str) -> str:
        """The answer to ``POST /v1/events`` for one event id (a claim while it is decided)."""
        return f"{self._customer_state(subject)}:event:{event_id}"

    # --- streams and API bookkeeping (control slot) ---------------------------------------

    def privacy_request(self, request_id: str) -> str:
        return f"{self._ctl}:privacy:{request_id}"

    def privacy_pending(self, kind: str) -> str:
        return f"{self._ctl}:privacy:pending:{kind}"

    @property
    def paused_variants(self) -> str:
        """Hash: ``<rule>/<variant>`` -> why it is paused (JSON: at, by, evidence)."""
        return f"{self._ctl}:paused_variants"

    @property
    def performance(self) -> str:
        """Hash: rule -> its latest performance report (JSON: as_of, experiment, rows)."""
        return f"{self._ctl}:performance"

    def privacy_requests_match(self) -> str:
        return f"{self._ctl}:privacy:pr-*"

    @property
    def erased(self) -> str:
        """Set of the suppression hashes of erased ids (:func:`kairos.erasure.suppression_hash`)."""
        return f"{self._ctl}:privacy:erased"

    @property
    def erased_dropped(self) -> str:
        """Counter of events the API dropped because they name an erased id."""
        return f"{self._ctl}:privacy:erased_dropped"

    # --- journeys and delivery (control slot; see serving.journeys, serving.outbox) -------

    @property
    def timers(self) -> str:
        """Sorted set: absence windows ``<rule>|<customer>`` by when they may fire (ms)."""
        return f"{self._ctl}:timers"

    @property
    def timers_claimed(self) -> str:
        """Sorted set: timers a scheduler is firing, by when its claim expires (ms)."""
        return f"{self._ctl}:timers:claimed"

    @property
    def outbox(self) -> str:
        """Sorted set: decision ids of sends waiting for delivery, by when they are due (ms)."""
        return f"{self._ctl}:outbox"

    @property
    def outbox_claimed(self) -> str:
        return f"{self._ctl}:outbox:claimed"

    def outbox_item(self, decision_id: str) -> str:
        """String: the send to deliver (JSON), kept after delivery for the feedback."""
        return f"{self._ctl}:outbox:item:{decision_id}"

    @property
    def scheduler_stats(self) -> str:
        """Hash: what the schedulers did (counters, lateness of the last timers fired)."""
        return f"{self._ctl}:scheduler"

    @property
    def dead_letter_stream(self) -> str:
        """Sends that failed their last retry (for a person to look at)."""
        return f"{self._ctl}:stream:dead_letter"

    @property
    def events_stream(self) -> str:
        return f"{self._ctl}:stream:events"

    @property
    def decisions_stream(self) -> str:
        return f"{self._ctl}:stream:decisions"

    @property
    def audit_stream(self) -> str:
        return f"{self._ctl}:stream:audit"
