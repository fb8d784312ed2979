"""The longer fault campaign (issue 13, item 4): outages up to a minute, more trials.

    .venv/bin/python bench/faults.py                          # 40 trials, outages up to 60 s
    .venv/bin/python bench/faults.py --trials 100 --seed 7
    .venv/bin/python bench/faults.py --longest 10 --trials 20  # the suite's plan, settled each trial

It runs tests/faults.py — the campaign the suite runs in
tests/integration/test_faults_postgres.py — on servers of its own (PostgreSQL, Dovecot and
Postfix from tests/servers, on free ports of 127.0.0.1; needs root and the Debian packages
of packaging/install-system-deps.sh): the demo organisation, a channel on a Dovecot
mailbox, ``email-campaigns serve`` and two agents' workstations (tests/workstation.py) as
processes reaching the database through a proxy that resets or black-holes connections.
Each trial delivers a few emails, breaks something at a point of their retrieval, take and
send, or of the outbox's drain — the database stopped, ``serve`` or a workstation killed
(SIGKILL), every connection reset, the network black-holed — then delivers a probe email
and waits until the work has settled, replies transmitted included (``--quick``: at the
end only, as the suite). Outages: most between 1 and 2.5 s, ``--long-share`` of them
between a third of ``--longest`` and ``--longest``.

Printed: each trial; then trials, emails, the invariants (stored twice, actioned twice,
replies transmitted twice, sent replies not delivered exactly once, unanswered, replies
left 'sending' by the trial that claimed them), and the time to recover after each fault
(its end → the probe answered: stored, taken and replied; → its reply sent, which waits
for the next look of the outbox of ``serve``, every 5 s), median and max, by fault.
``--json`` adds them as one JSON object. The exit code is 0 when no invariant broke (no
reply left 'sending' included), no process ended by itself and none logged a traceback; 1
otherwise. ``--keep`` keeps the folder with the servers and the processes' logs.
"""

# ruff: noqa: E402  (the path is fixed before the other imports)
from __future__ import annotations

import sys
from pathlib import Path

# Run as a program, this folder comes first on the path, and bench/queue.py would stand
# for the standard library's ``queue``: take the folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import argparse
import json
import os
import shutil
import statistics
import tempfile
from dataclasses import asdict

from tests.faults import KINDS, FaultCampaign, Outcome, Plan, default_seed


def figures(outcome: Outcome) -> dict[str, object]:
    """The figures, for --json."""

    def spread(values: list[float]) -> dict[str, float] | None:
        if not values:
            return None
        return {"median": statistics.median(values), "max": max(values), "n": len(values)}

    return {
        "seed": outcome.plan.seed,
        "plan": asdict(outcome.plan),
        "trials": len(outcome.trials),
        "seconds": outcome.seconds,
        "emails": outcome.delivered,
        "stored_twice": len(outcome.stored_twice),
        "not_stored": len(outcome.missing),
        "actioned_twice": len(outcome.actioned_twice),
        "transmitted_twice": len(outcome.transmitted_twice),
        "sent_not_delivered_once": len(outcome.not_transmitted_once),
        "unanswered": len(outcome.unanswered),
        "left_sending": len(outcome.left_sending),
        "left_sending_transmitted": outcome.left_sending_transmitted,
        "unsettled": outcome.unsettled,
        "exits": outcome.exits,
        "tracebacks": outcome.tracebacks,
        "recovery_answered": spread(outcome.recovery()),
        "recovery_sent": spread(outcome.recovery("transmitted_after")),
        "by_fault": {
            kind: {
                "trials": sum(1 for t in outcome.trials if t.kind == kind),
                "answered": spread(
                    [
                        t.answered_after
                        for t in outcome.trials
                        if t.kind == kind and t.answered_after is not None
                    ]
                ),
                "sent": spread(
                    [
                        t.transmitted_after
                        for t in outcome.trials
                        if t.kind == kind and t.transmitted_after is not None
                    ]
                ),
                "left_sending": sum(len(t.left_sending) for t in outcome.trials if t.kind == kind),
            }
            for kind in KINDS
        },
        "trial_list": [
            {
                "number": t.number,
                "kind": t.kind,
                "moment": t.moment,
                "detail": t.detail,
                "outage": t.outage,
                "answered_after": t.answered_after,
                "transmitted_after": t.transmitted_after,
                "left_sending": t.left_sending,
                "left_sending_transmitted": t.left_sending_transmitted,
                "problems": t.problems,
            }
            for t in outcome.trials
        ],
    }


def table(outcome: Outcome) -> str:
    """Time to recover by fault: median and max, answered and sent."""

    def cell(values: list[float]) -> str:
        if not values:
            return "-"
        return f"{statistics.median(values):.2f} / {max(values):.2f}"

    rows = [
        "| fault | trials | outage s (max) | answered after, s (median / max) "
        "| sent after, s (median / max) | left 'sending' |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind in KINDS:
        trials = [t for t in outcome.trials if t.kind == kind]
        if not trials:
            continue
        outage = max((t.outage for t in trials), default=0.0)
        answered = [t.answered_after for t in trials if t.answered_after is not None]
        sent = [t.transmitted_after for t in trials if t.transmitted_after is not None]
        left = sum(len(t.left_sending) for t in trials)
        rows.append(
            f"| {kind} | {len(trials)} | {outage:.1f} | {cell(answered)} | {cell(sent)} | {left} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=40, metavar="N")
    parser.add_argument("--seed", type=int, metavar="S", help="(default: a new one, printed)")
    parser.add_argument("--longest", type=float, default=60.0, metavar="S", help="longest outage")
    parser.add_argument("--long-share", type=float, default=0.25, metavar="P")
    parser.add_argument("--quick", action="store_true", help="settle the replies at the end only")
    parser.add_argument("--json", action="store_true", help="the figures as JSON too")
    parser.add_argument("--keep", action="store_true", help="keep the servers' folder and logs")
    args = parser.parse_args()
    if args.trials < 1 or args.longest < 1:
        parser.error("--trials and --longest must be at least 1")

    def say(text: str) -> None:
        print(text, flush=True)

    import keyring
    from keyring.backends.null import Keyring

    from app.db import migrate
    from app.db.engine import Database
    from app.services import demo
    from tests.servers import ServerError
    from tests.servers.mail import MailServer
    from tests.servers.postgres import PostgresServer

    for server_kind in (PostgresServer, MailServer):
        reason = server_kind.unavailable()
        if reason:
            say(f"cannot run: {reason}")
            return 2
    keyring.set_keyring(Keyring())  # never the developer's own keyring
    scratch = Path(tempfile.mkdtemp(prefix="ec-bench-faults-", dir="/tmp"))
    os.chmod(scratch, 0o755)  # the servers' users reach their folders inside
    home = scratch / "home"
    os.environ["EMAIL_CAMPAIGNS_HOME"] = str(home)  # nothing of the user's
    seed = args.seed if args.seed is not None else default_seed()
    plan = Plan(
        trials=args.trials,
        seed=seed,
        longest_outage=args.longest,
        long_share=args.long_share,
        full_settle=not args.quick,
        settle_seconds=max(60.0, 2 * args.longest),
    )
    postgres = PostgresServer(scratch / "pg")
    mail = MailServer(scratch / "mail")
    db: Database | None = None
    try:
        say("starting PostgreSQL, Dovecot and Postfix …")
        postgres.start()
        mail.start()
        db = Database(postgres.create_database("faults"))
        migrate.upgrade(db)
        demo.seed(db)
        say(f"seed {seed} (--seed {seed} replays the plan); logs in {scratch / 'logs'}")
        outcome = FaultCampaign(plan, postgres, mail, db, home, scratch / "logs", say).run()
    except ServerError as exc:
        say(f"a server failed: {exc}")
        return 2
    finally:
        if db is not None:
            db.dispose()
        mail.stop()
        postgres.stop()
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    say("")
    say(outcome.summary())
    say("")
    say(table(outcome))
    if outcome.tracebacks:
        say("tracebacks: " + "; ".join(outcome.tracebacks[:10]))
    if args.json:
        say(json.dumps(figures(outcome), indent=2, default=str))
    broken = outcome.safety + outcome.liveness + outcome.tracebacks + outcome.left_sending
    return 1 if broken or outcome.exits else 0


if __name__ == "__main__":
    raise SystemExit(main())
