"""Senders in processes of their own: `digest send --workers N` and the long-running `publisher worker`.

Every sender runs the same pass (delivery.deliver) against the same state
database and takes its messages by claiming outbox rows (state/claims.py), so
any number of them, on any number of hosts, share one outbox: none sends a
message another holds, and the messages of one that died go out once their
lease has run out. Worker processes are started with "spawn": each opens its
own connection and inherits nothing from the command but its arguments.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection

from .clock import Clock
from .config import Config
from .delivery import DeliveryReport, deliver, describe
from .errors import DeliveryError, PublisherError
from .state import State, open_state
from .unsubscribes import apply_unsubscribes

log = logging.getLogger("publisher")


@dataclass(frozen=True)
class WorkerResult:
    """What one worker process sent back: its report, and the error that ended its pass early, if any."""

    report: DeliveryReport
    error: str | None


def _work(config: Config, names: Sequence[str], clock: Clock, results: Connection) -> None:
    """One worker process: one pass over the digests' due messages; SIGTERM or Ctrl-C finish the
    message in flight first."""
    from .scheduler import stop_on_signals

    stop = threading.Event()
    report, error = DeliveryReport(), None
    with stop_on_signals(stop):
        try:
            with open_state(config.state) as store:
                digests = [config.digest(name) for name in names]
                deliver(config, store, digests, report, clock=clock, sleep=stop.wait, stopping=stop.is_set)
        except PublisherError as exc:
            error = str(exc)
    results.send(WorkerResult(report, error))
    results.close()


def _merge(total: DeliveryReport, part: DeliveryReport) -> None:
    total.sent += part.sent
    total.failed += part.failed
    total.bounced += part.bounced
    total.unknown += part.unknown
    total.reasons.update(part.reasons)


def deliver_in_processes(
    config: Config, names: Sequence[str], report: DeliveryReport, *, clock: Clock, workers: int
) -> None:
    """One pass over these digests' due messages by ``workers`` processes at once; their counts are
    added to ``report``. A worker that died or could not reach the server is a DeliveryError once the
    others have finished: what it held goes out at a later send, after its lease."""
    context = multiprocessing.get_context("spawn")
    started = []
    for _ in range(workers):
        ours, theirs = context.Pipe(duplex=False)
        process = context.Process(target=_work, args=(config, tuple(names), clock, theirs), daemon=True)
        process.start()
        theirs.close()  # the worker holds the only writing end: its death is an end of file here
        started.append((process, ours))
    problems = []
    for process, ours in started:
        try:
            result: WorkerResult = ours.recv()
        except EOFError:
            result = WorkerResult(DeliveryReport(), None)
        process.join()
        _merge(report, result.report)
        if result.error:
            problems.append(result.error)
        elif process.exitcode:
            problems.append(f"worker pid {process.pid} ended with exit code {process.exitcode}")
    if problems:
        lease = f"{config.smtp.lease_seconds:g} s"
        raise DeliveryError(
            f"{problems[0]} ({len(problems)} of {workers} workers stopped early); {report.sent} sent by the others;"
            f" what was left goes at the next send, messages a stopped worker held once their lease ({lease}) is over"
        )


def counts(store: State, report: DeliveryReport) -> dict[str, int]:
    """A report's counts, with every digest's messages still waiting, for `describe`."""
    waiting = sum(left.count for left in store.runs.waiting().values())
    return {"sent": report.sent, "waiting": waiting, "bounced": len(report.bounced), "failed": len(report.failed),
            "unknown": len(report.unknown)}  # fmt: skip


def run_worker(config: Config, *, clock: Clock, once: bool, stop: threading.Event) -> DeliveryReport:
    """`publisher worker`: send every configured digest's due messages, frozen by whichever process
    (``digest send``, ``publisher run``), then look again every [run] tick_seconds until ``stop``.
    A server that cannot be reached is logged and tried again at the next look (``once``: raised)."""
    total = DeliveryReport()
    with open_state(config.state) as store:
        while not stop.is_set():
            report = DeliveryReport()
            try:
                apply_unsubscribes(store)  # no mail after leaving, whoever recorded it
                deliver(config, store, config.digests, report, clock=clock, sleep=stop.wait, stopping=stop.is_set)
            except DeliveryError as exc:
                if once:
                    raise
                log.error("worker: %s", exc)
            finally:
                _merge(total, report)
            if report.sent or report.bounced or report.failed or report.unknown:
                log.info("worker: %s", describe(counts(store, report)))
            if once:
                break
            stop.wait(config.run.tick_seconds)
    return total
