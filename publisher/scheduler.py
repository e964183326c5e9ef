"""`publisher run`: `schedule` as a ticker around a pure due_slots(now, ledger).

`schedule` keeps no state and never runs a missed job, so it only says "look
now". What is due comes from the state database at every tick: a digest whose
latest slot is neither frozen nor skipped, a run a stop or crash left half sent.
After downtime only the latest missed slot can go out, and only within the
grace; earlier ones are recorded as skipped. Skipping loses no post: a
reader's next digest carries everything since the last one they received.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import schedule

from .clock import Clock, Sleep, WallClock
from .config import Config, DigestConfig
from .delivery import describe, dry_run_summary, summary
from .digest import send_digest
from .errors import Busy, PublisherError
from .locks import holding
from .publish import publish
from .signup import send_confirmations
from .slots import current_slot, local_time, slots_between
from .state import State, open_state

log = logging.getLogger("publisher")


@dataclass(frozen=True)
class Due:
    """What one digest needs now: a slot to freeze and send, slots to record as skipped, a run to finish."""

    digest: str
    send: datetime | None
    skip: tuple[tuple[datetime, str], ...]  # (slot, why)
    resume: bool


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def due_digest(
    digest: DigestConfig, now: datetime, last: datetime | None, unfinished: bool, grace: timedelta
) -> Due | None:
    """The slots in (last, now]; with no ledger yet, the current slot. Only the newest can be sent."""
    missed = slots_between(digest, last, now) if last is not None else [current_slot(digest, now)]
    send = missed[-1] if missed and now - missed[-1] <= grace else None
    skip = tuple(
        (slot, f"superseded by the slot of {missed[-1]:%Y-%m-%d %H:%M} UTC")
        if send is not None
        else (slot, f"missed by {_hours(now - slot)}, more than the grace of {_hours(grace)}")
        for slot in (missed[:-1] if send is not None else missed)
    )
    if send is None and not skip and not unfinished:
        return None
    return Due(digest.name, send, skip, unfinished)


def due_slots(
    now: datetime,
    digests: Sequence[DigestConfig],
    last: Mapping[str, datetime],
    unfinished: Set[str],
    grace: timedelta,
) -> list[Due]:
    """Every digest with something to do at ``now``, given the ledger: each digest's latest slot frozen or skipped."""
    found = (due_digest(d, now, last.get(d.name), d.name in unfinished, grace) for d in digests)
    return [due for due in found if due is not None]


def shifted_clock(start: datetime | None) -> Clock:
    """The wall clock, or one that read ``start`` when made and runs at the same speed (to try a schedule)."""
    return WallClock(timedelta(0) if start is None else start - datetime.now(UTC))


class Runner:
    """One tick: send queued confirmation e-mails, publish if due, then every due digest; a failing job
    is logged and tried again next tick.

    A ``preview`` runner (its clock is in the future) changes nothing: it does not publish
    (future posts would leak into the live feeds) and only says what each digest would send.
    """

    def __init__(
        self, config: Config, store: State, *, clock: Clock, sleep: Sleep, stop: threading.Event, preview: bool = False
    ) -> None:
        self.config, self.store = config, store
        self.clock, self.sleep, self.stop = clock, sleep, stop
        self.preview = preview
        self.previewed: set[tuple[str, datetime | None]] = set()  # said once, not at every tick
        self.last_publish: datetime | None = None

    def tick(self) -> int:
        """Do what is due now; returns how many jobs failed."""
        now = self.clock()
        failed = 0
        if self.config.digests and not self.preview:  # first: a reader is waiting for it
            failed += not self._job("confirmation e-mails", self._confirmations)
        interval = timedelta(minutes=self.config.run.publish_interval_minutes)
        if not self.preview and (self.last_publish is None or now - self.last_publish >= interval):
            self.last_publish = now
            failed += not self._job("publish", lambda: self._publish(now))
        if self.config.bounces is not None:
            failed += not self._job("bounces", lambda: self._bounces(now))
        last = self.store.runs.last_slots()
        unfinished = {d for d, w in self.store.runs.waiting().items() if w.first is None or w.first <= now}
        for due in due_slots(now, self.config.digests, last, unfinished, self.config.run.grace):
            if self.stop.is_set():
                break
            failed += not self._job(f"digest {due.digest}", functools.partial(self._digest, due, now))
        return failed

    def _job(self, name: str, job: Callable[[], None]) -> bool:
        try:
            job()
        except PublisherError as exc:
            log.error("%s failed: %s; trying again at the next tick", name, str(exc).replace("\n", "; "))
            return False
        except Exception:
            log.exception("%s failed unexpectedly; trying again at the next tick", name)
            return False
        return True

    def _publish(self, now: datetime) -> None:
        report = publish(self.config, now)
        for warning in report.warnings:  # each said once, but for a hub still down
            log.warning("publish: %s", warning)
        if report.written or report.removed:
            log.info(
                "publish: %d posts; %d feeds written, %d removed, %d unchanged",
                report.posts, len(report.written), len(report.removed), report.unchanged,
            )  # fmt: skip

    def _bounces(self, now: datetime) -> None:
        from .bounces import process_bounces
        from .tokens import secret_from_env

        report = process_bounces(self.config, now, secret_from_env())
        if report.read:
            log.info("bounces: %s", report.summary())

    def _confirmations(self) -> None:
        try:
            report = send_confirmations(self.config, self.store, clock=self.clock, sleep=self.sleep)
        except Busy:  # `publisher serve` is sending them
            return
        if report.sent or report.waiting.count or report.failed or report.bounced or report.unknown:
            counts = {"sent": report.sent, "waiting": report.waiting.count, "bounced": len(report.bounced),
                      "failed": len(report.failed), "unknown": len(report.unknown)}  # fmt: skip
            log.info("confirmation e-mails: %s", describe(counts))

    def _digest(self, due: Due, now: datetime) -> None:
        digest = self.config.digest(due.digest)
        if self.preview:
            if (digest.name, due.send) in self.previewed:
                return
            self.previewed.add((digest.name, due.send))
            report = send_digest(self.config, digest.name, now, clock=self.clock, sleep=self.sleep, dry_run=True)
            log.info("digest %s %s (the clock is in the future)", digest.name, dry_run_summary(digest, report, now))
            return
        if due.skip:
            with self.store.transaction():
                for slot, why in due.skip:
                    self.store.runs.record_skipped(digest.name, slot, now, why)
            for slot, why in due.skip:
                log.info("digest %s slot %s: skipped, %s", digest.name, local_time(digest, slot), why)
        if due.send is None and not due.resume:
            return
        report = send_digest(
            self.config, digest.name, now, clock=self.clock, sleep=self.sleep,
            new_run=due.send is not None, stopping=self.stop.is_set,
        )  # fmt: skip
        tail = "; stopped, the rest goes at the next start" if self.stop.is_set() else ""
        log.info("digest %s %s%s", digest.name, summary(digest, report, self.clock()), tail)


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT only set ``stop``: the message in flight is finished and committed first."""
    handlers = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def loop(runner: Runner, seconds: int, wait: Callable[[float], object]) -> None:
    """Tick at once, then every ``seconds`` until ``runner.stop`` is set; ``wait`` returns early on a stop."""
    ticker = schedule.Scheduler()
    ticker.every(seconds).seconds.do(runner.tick)
    runner.tick()
    while not runner.stop.is_set():
        ticker.run_pending()
        wait(max(ticker.idle_seconds or 0.0, 0.0))


def run_scheduler(config: Config, *, once: bool, start: datetime | None = None, preview: bool = False) -> int:
    """`publisher run`: hold the instance lock, then loop (or tick once); returns the jobs that failed.

    ``preview`` (a ``start`` in the future) sends no mail and uses up no slot."""
    stop = threading.Event()
    clock = shifted_clock(start)
    busy = "another publisher run is using this state database"
    with open_state(config.state) as store, holding(store, "run", busy), stop_on_signals(stop):
        runner = Runner(config, store, clock=clock, sleep=stop.wait, stop=stop, preview=preview)
        if preview:
            log.warning("run: the clock starts at %s, in the future: a dry run, nothing is published or sent", start)
        if once:
            return runner.tick()
        log.info("run: started (pid %d); ticking every %d s", os.getpid(), config.run.tick_seconds)
        loop(runner, config.run.tick_seconds, stop.wait)
        log.info("run: stopped")
    return 0
