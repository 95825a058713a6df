"""Crash safety of sweep + deliver: SIGKILL at random points, then prove what reached the chats.

**The guarantee: at least once, with idempotent keys.**

- *No loss.* Every reminder, overdue and escalation stage that came due reaches every one of
  its recipients, whatever instant the sweeping/delivering process was killed at: the sweep
  hands stages to the outbox and moves ``stage_done`` in one transaction, and an outbox row
  is only marked ``sent`` after a channel accepted it.
- *No duplicate rows.* Each (task, stage, recipient, window) has exactly one outbox row: the
  unique key and ``INSERT … ON CONFLICT DO NOTHING`` make a retried or repeated sweep harmless.
- *Duplicate sends only inside the documented window.* A message can arrive twice only when
  the process died after the channel accepted it and before the commit that marks its rows
  ``sent`` (notifier/deliver.py). So at most one message per crash, and it is always the
  last one that process sent.

How the test proves it. A seeded ledger (three agencies, sections with and without people,
chiefs, staff, office, leaders, telegram/e-mail/no address; recurring tasks and events of
every kind, hour duties included) is swept and delivered by a child process
(tests/integration/crash_worker.py) over six simulated weeks in 79-minute steps. Its
channels POST every message to a receiver on 127.0.0.1 run by this process and wait for the
answer, so the log of what "arrived" survives the kills. The parent kills the child with
SIGKILL 36 times at seeded random points — during start-up, at a random delay into its work
(a sweep transaction, a delivery claim), while a message is on its way (announced, not yet
accepted), just before the receiver answers a send, and just after — and restarts it; the
new incarnation resumes from the database at the last simulated instant it used plus the
5-minute delivery lease and a minute. After the last kill the child runs to the end of the
period and a clean run drains the outbox. After each kill the test reads which of the rows
the dead process sent are not marked ``sent``: those are the rows "in flight" at the moment
of death; they must all belong to the last message it sent, and none may exist when it died
before the chat accepted anything. At the end:

1. the due stages are computed independently (the stage plan of each task's rule snapshot,
   the recipients from the organisation the test built, the final sweep instant), every
   task's ``stage_done`` must match them, and every (task, stage, recipient) must have
   arrived in a message that lists that task;
2. the outbox has exactly one row per (task, stage, recipient) and nothing else, all sent,
   each with exactly one ``sent`` delivery record;
3. every extra copy of a row is explained: the earlier copy came from a killed incarnation
   in whose in-flight set the row was. The number of duplicates is printed.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from db.context import Actor, Domain
from db.engine import make_engine, session_scope
from db.migrate import upgrade
from db.models import Agency, ChatAddress, Delivery, OutboxMessage, Person, Section, Task
from db.spawn import record_event, spawn_recurring
from db.tasks import stages_of

pytestmark = pytest.mark.slow

TZ = ZoneInfo("Asia/Shanghai")
SEED = 20261102
KILLS = 36  # at least 30 must really be SIGKILLs (a child may finish before a timer fires)
WORKER = Path(__file__).resolve().parent / "crash_worker.py"
ROOT = Path(__file__).resolve().parents[2]

START = dt.datetime(2026, 11, 2, 0, 7, tzinfo=TZ)  # Monday
END = dt.datetime(2026, 12, 14, 0, 0, tzinfo=TZ)
STEP = dt.timedelta(minutes=79)
LEASE = dt.timedelta(minutes=5)  # notifier.deliver.DEFAULT_LEASE
RESUME_AFTER = LEASE + dt.timedelta(minutes=1)
DRAIN_DAYS = 14
#: Where a killed incarnation dies (drawn with the seeded RNG; "timer" twice as often):
#: start-up (imports, opening the database), a random delay into its work, while a message is
#: announced but not yet accepted, just before the receiver answers a send, just after.
KILL_MODES = (
    "startup",
    "timer",
    "timer",
    "before-send",
    "send-before-answer",
    "send-after-answer",
)


# --------------------------------------------------------------------------- the receiver


@dataclass
class Arming:
    """When and how to kill the current incarnation (set by the parent before it starts)."""

    incarnation: int
    pid: int
    mode: str
    target: dt.datetime
    sends: int
    reached: threading.Event = field(default_factory=threading.Event)
    killed: threading.Event = field(default_factory=threading.Event)
    counted: int = 0


class Receiver:
    """The 'chat' outside the killed process: logs every send before answering it."""

    def __init__(self, rng: random.Random) -> None:
        self.lock = threading.Lock()
        self.sends: list[dict[str, Any]] = []
        self.last_at: dt.datetime | None = None
        self.done: set[int] = set()
        self.children: list[subprocess.Popen[bytes]] = []
        #: the last thing each incarnation told the receiver (where a kill found it)
        self.last_event: dict[int, str] = {}
        self.arming: Arming | None = None
        self.rng = rng  # used only under the lock, in arming order
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                after = receiver.handle(self.path, body)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                    self.wfile.flush()
                except OSError:
                    pass  # the child was killed before it read the answer
                if after is not None:
                    after()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def handle(self, path: str, body: dict[str, Any]) -> Any:
        """Record a tick or a send; returns a kill to run after answering, if armed so."""
        incarnation = int(body["incarnation"])
        with self.lock:
            self.last_event[incarnation] = path
            arming = self.arming if self.arming and self.arming.incarnation == incarnation else None
            if path == "/tick":
                self.last_at = dt.datetime.fromisoformat(body["at"])
                if arming and self.last_at >= arming.target:
                    arming.reached.set()
                return None
            if path == "/swept":
                return None
            if path == "/done":
                self.done.add(incarnation)
                return None
            if path == "/sending":
                # Killed while the message is on its way: the chat has not accepted it.
                if arming and self._counts(arming, "before-send"):
                    self._kill(arming)
                return None
            assert path == "/send", path
            self.sends.append({**body, "seq": len(self.sends)})
            if not (
                arming and arming.mode.startswith("send") and self._counts(arming, arming.mode)
            ):
                return None
            if arming.mode == "send-before-answer":
                # The channel accepted the message, the sender never heard back.
                self._kill(arming)
                return None
            pause = self.rng.uniform(0, 0.003)

            def kill_after_answer() -> None:
                time.sleep(pause)  # somewhere in recording the outcome, or just after it
                with self.lock:
                    if not arming.killed.is_set():
                        self._kill(arming)

            return kill_after_answer

    @staticmethod
    def _counts(arming: Arming, mode: str) -> bool:
        """Count a send for ``mode``; True when it is the one to kill at."""
        if arming.mode != mode or not arming.reached.is_set() or arming.killed.is_set():
            return False
        arming.counted += 1
        return arming.counted == arming.sends

    @staticmethod
    def _kill(arming: Arming) -> None:
        os.kill(arming.pid, signal.SIGKILL)
        arming.killed.set()

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


# --------------------------------------------------------------------------- the ledger


@dataclass
class Org:
    """Who should hear of what, built here independently of db.sweep's audience logic."""

    section_people: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    office: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    leader: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))

    def recipients(self, agency_id: int, section_id: int, audience: str) -> list[int]:
        if audience == "leader":
            return self.leader[agency_id] or self.office[agency_id]
        if audience == "office":
            return self.office[agency_id]
        return self.section_people[section_id] or self.office[agency_id]


def build_ledger(path: Path, domain: Domain, rng: random.Random) -> Org:
    """Three agencies, their people and addresses, recurring tasks and ~150 events."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    org = Org()
    system = Actor.system("crash-test")
    created = dt.datetime(2026, 9, 1, tzinfo=TZ)
    sections_by_agency: dict[str, list[str]] = {}
    try:
        with session_scope(engine) as session:
            for number in range(1, 4):
                agency = Agency(code=f"a{number}", name=f"第{number}局", created_at=created)
                session.add(agency)
                session.flush()
                assert agency.id is not None
                codes = ["office", *(f"s{n}" for n in range(1, 6))]
                sections_by_agency[agency.code] = codes[1:]
                people: list[tuple[Person, bool]] = []
                for code in codes:
                    section = Section(agency_id=agency.id, code=code, name=f"{code}科")
                    session.add(section)
                    session.flush()
                    assert section.id is not None
                    if code == "office":
                        for n in range(2):
                            person = Person(
                                agency_id=agency.id,
                                section_id=section.id,
                                name=f"a{number}-office-{n}",
                                role="office",
                            )
                            people.append((person, True))
                        continue
                    if rng.random() < 0.2:
                        continue  # nobody in this section: the office hears of its tasks
                    people.append(
                        (
                            Person(
                                agency_id=agency.id,
                                section_id=section.id,
                                name=f"a{number}-{code}-chief",
                                role="chief",
                            ),
                            True,
                        )
                    )
                    for n in range(rng.randint(0, 2)):
                        active = rng.random() > 0.15
                        staff = Person(
                            agency_id=agency.id,
                            section_id=section.id,
                            name=f"a{number}-{code}-staff-{n}",
                            role="staff",
                            active=active,
                        )
                        people.append((staff, active))
                if number != 3:  # the third agency has no leader: escalations go to the office
                    leader = Person(
                        agency_id=agency.id,
                        section_id=None,
                        name=f"a{number}-leader",
                        role="leader",
                    )
                    people.append((leader, True))
                for person, active in people:
                    session.add(person)
                    session.flush()
                    assert person.id is not None
                    draw = rng.random()
                    if draw < 0.55:
                        channels = ["telegram"]
                    elif draw < 0.75:
                        channels = ["email"]
                    elif draw < 0.9:
                        channels = ["telegram", "email"]
                    else:
                        channels = []  # no address: the console fallback
                    for channel in channels:
                        session.add(
                            ChatAddress(
                                person_id=person.id,
                                channel=channel,
                                address=f"{channel}:{person.name}",
                            )
                        )
                    if not active:
                        continue
                    if person.role == "office":
                        org.office[agency.id].append(person.id)
                    elif person.role == "leader":
                        org.leader[agency.id].append(person.id)
                    else:
                        assert person.section_id is not None
                        org.section_people[person.section_id].append(person.id)
        with session_scope(engine) as session:
            spawn_recurring(
                session,
                domain,
                through=END.date(),
                since=dt.date(2026, 10, 1),
                actor=system,
                at=dt.datetime(2026, 10, 1, tzinfo=TZ),
            )
        kinds: list[tuple[str, dict[str, str]]] = [
            ("request_received", {"applicant_type": "natural_person", "channel": "in_person"}),
            ("message_received", {"box": "consultation"}),
            ("document_published", {"doc_kind": "policy"}),
            ("decision_made", {"kind": "licensing"}),
            ("sentiment_detected", {"severity": "other"}),
            ("sentiment_detected", {"severity": "major"}),
        ]
        weights = [5, 5, 3, 3, 1, 1]
        first, last = dt.datetime(2026, 10, 12, tzinfo=TZ), END - dt.timedelta(days=3)
        span = (last - first).total_seconds()
        with session_scope(engine) as session:
            for number in range(150):
                agency_code = f"a{rng.randint(1, 3)}"
                name, attributes = rng.choices(kinds, weights)[0]
                occurred = first + dt.timedelta(seconds=int(rng.random() * span))
                record_event(
                    session,
                    domain,
                    agency_code=agency_code,
                    event_type_name=name,
                    occurred_at=occurred,
                    actor=system,
                    at=occurred,
                    attributes=attributes,
                    external_id=f"crash-{number}",
                    section_code=rng.choice(sections_by_agency[agency_code]),
                    title=f"事件{number}",
                )
    finally:
        engine.dispose()
    return org


# --------------------------------------------------------------------------- the kills


@dataclass
class Incarnation:
    number: int
    mode: str
    returncode: int | None = None
    #: rows this process sent whose commit never happened (read from the DB after its death)
    in_flight: set[int] = field(default_factory=set)
    last_message: str | None = None
    #: what the process was doing when it died, from the receiver's point of view
    died: str = ""


def start_child(
    db_path: Path, receiver: Receiver, number: int, extra: list[str]
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        str(WORKER),
        "--db",
        str(db_path),
        "--receiver",
        receiver.url,
        "--incarnation",
        str(number),
        *extra,
    ]
    # The child imports the same tree as this test (not whatever the venv's editable install
    # points at).
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": path},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    receiver.children.append(process)
    return process


def wait_for(process: subprocess.Popen[bytes], timeout: float) -> int:
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"child {process.pid} did not finish within {timeout} s")
    if process.returncode not in (0, -signal.SIGKILL):
        pytest.fail(f"child failed ({process.returncode}):\n{err.decode(errors='replace')}")
    return process.returncode


def kill(process: subprocess.Popen[bytes], receiver: Receiver) -> None:
    with receiver.lock:
        arming = receiver.arming
        if arming is not None and not arming.killed.is_set() and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            arming.killed.set()


def statuses(db_path: Path, rows: set[int]) -> dict[int, str]:
    connection = sqlite3.connect(db_path)
    try:
        found = connection.execute(
            f"SELECT id, status FROM outbox WHERE id IN ({','.join(map(str, sorted(rows)))})"
        ).fetchall()
    finally:
        connection.close()
    return {int(row_id): str(status) for row_id, status in found}


def run_with_kills(
    db_path: Path, receiver: Receiver, rng: random.Random
) -> tuple[list[Incarnation], dt.datetime]:
    """KILLS killed incarnations, one that runs to the end, one clean drain; returns them."""
    incarnations: list[Incarnation] = []
    period = END - START
    for number in range(KILLS + 1):
        extra = ["--start", START.isoformat(), "--end", END.isoformat()]
        extra += ["--step-minutes", str(int(STEP.total_seconds() // 60))]
        if receiver.last_at is not None:
            extra += ["--resume-at", (receiver.last_at + RESUME_AFTER).isoformat()]
        last = number == KILLS
        mode = "none" if last else rng.choice(KILL_MODES)
        delay = rng.uniform(0.05, 0.9) if mode == "startup" else rng.uniform(0, 0.25)
        # Kill targets spread over the first 80 % of the period, so the kills cannot run out
        # of period; the instant only arms the kill, the kill point itself is random.
        target = START + period * (0.8 * (number + 1) / (KILLS + 1))
        sends = rng.randint(1, 6)
        process = start_child(db_path, receiver, number, extra)
        with receiver.lock:
            receiver.arming = Arming(number, process.pid, mode, target, sends)
        arming = receiver.arming
        incarnation = Incarnation(number, mode)
        if mode == "startup":
            time.sleep(delay)
            kill(process, receiver)
        elif mode == "timer":
            arming.reached.wait(timeout=120)
            time.sleep(delay)
            kill(process, receiver)
        elif mode in KILL_MODES:  # killed by the receiver at the chosen send
            arming.reached.wait(timeout=120)
            if not arming.killed.wait(timeout=5):
                incarnation.mode += " (fallback timer)"
                kill(process, receiver)
        incarnation.returncode = wait_for(process, 180)
        with receiver.lock:
            receiver.arming = None
        if incarnation.returncode == -signal.SIGKILL:
            mine = [send for send in receiver.sends if send["incarnation"] == number]
            rows = {row for send in mine for row in send["rows"]}
            if rows:
                state = statuses(db_path, rows)
                incarnation.in_flight = {row for row in rows if state.get(row) != "sent"}
                incarnation.last_message = mine[-1]["message_id"]
            incarnation.died = {
                None: "start-up (before its first step)",
                "/tick": "in a step before its sweep committed (or in an empty step's deliver)",
                "/swept": "deliver claim/plan, after a sweep with work committed",
                "/sending": "a message on its way, not accepted",
            }.get(receiver.last_event.get(number), "")
            if incarnation.died.startswith("a message on its way"):
                assert not incarnation.in_flight, (number, sorted(incarnation.in_flight))
            if not incarnation.died:
                incarnation.died = (
                    "message accepted, outcome not committed (the documented window)"
                    if incarnation.in_flight
                    else "after a message's outcome was committed"
                )
        incarnations.append(incarnation)
    assert KILLS in receiver.done, "the last incarnation did not reach the end of the period"
    assert receiver.last_at is not None
    final_sweep = max(END, receiver.last_at + RESUME_AFTER)
    process = start_child(
        db_path,
        receiver,
        KILLS + 1,
        ["--drain-at", final_sweep.isoformat(), "--drain-days", str(DRAIN_DAYS)],
    )
    incarnations.append(Incarnation(KILLS + 1, "drain", wait_for(process, 120)))
    assert KILLS + 1 in receiver.done
    return incarnations, final_sweep


# --------------------------------------------------------------------------- the test


@pytest.fixture
def rng() -> random.Random:
    return random.Random(SEED)


@pytest.fixture
def receiver(rng: random.Random) -> Iterator[Receiver]:
    with Receiver(random.Random(rng.random())) as running:
        yield running
        # A failed assertion may leave a child running: end it (only the ones started here).
        for process in running.children:
            if process.poll() is None:
                process.kill()
                process.communicate()


def test_sigkill_at_random_points_loses_nothing_and_duplicates_only_in_the_window(
    tmp_path: Path, domain: Domain, rng: random.Random, receiver: Receiver
) -> None:
    began = time.perf_counter()
    db_path = tmp_path / "ledger.db"
    org = build_ledger(db_path, domain, rng)
    incarnations, final_sweep = run_with_kills(db_path, receiver, rng)
    killed = [i for i in incarnations if i.returncode == -signal.SIGKILL]
    assert len(killed) >= 30, [(i.number, i.mode, i.returncode) for i in incarnations]

    engine = make_engine(f"sqlite:///{db_path}")
    try:
        with Session(engine) as session:
            tasks = session.exec(select(Task)).all()
            outbox = {int(row.id or 0): row for row in session.exec(select(OutboxMessage)).all()}
            sent_records = Counter(
                d.outbox_id for d in session.exec(select(Delivery)).all() if d.outcome == "sent"
            )
    finally:
        engine.dispose()

    # 1. The due stages, computed independently, and every one of them reached its people.
    expected: set[tuple[int, str, int]] = set()
    for task in tasks:
        assert task.id is not None
        assert task.status == "open"
        assert task.claimed_by is None
        stages = stages_of(task, domain)
        due = [stage for stage in stages if stage.at <= final_sweep]
        assert task.stage_done == (due[-1].index if due else -1), task.title
        upcoming = stages[len(due)] if len(due) < len(stages) else None
        assert task.next_action_at == (upcoming.at if upcoming else None), task.title
        for stage in due:
            for person in org.recipients(task.agency_id, task.section_id, stage.audience):
                expected.add((task.id, stage.name, person))
    assert len(expected) > 1_000, "the ledger should produce plenty of reminders"

    key_of = {
        row_id: (int(row.task_id or 0), row.stage, int(row.person_id or 0))
        for row_id, row in outbox.items()
    }
    received: dict[tuple[int, str, int], int] = Counter()
    copies: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for send in receiver.sends:
        assert len(send["rows"]) == len(set(send["rows"]))
        for row_id in send["rows"]:
            copies[row_id].append(send)
            key = key_of[row_id]
            # the message shows the task the row is about
            assert key[0] in send["tasks"], (send["message_id"], key)
            received[key] += 1
    missing = expected - set(received)
    assert not missing, f"{len(missing)} due stages never arrived, e.g. {sorted(missing)[:5]}"
    assert set(received) <= expected, sorted(set(received) - expected)[:5]

    # 2. One outbox row per (task, stage, person), all sent, each recorded as sent once.
    assert len(outbox) == len(expected) == len(set(key_of.values()))
    assert {row.status for row in outbox.values()} == {"sent"}
    wrong = {row_id: sent_records[row_id] for row_id in outbox if sent_records[row_id] != 1}
    assert not wrong, f"rows without exactly one 'sent' delivery record: {wrong}"

    # 3. Every duplicate is explained by a kill between the channel and the commit.
    by_number = {i.number: i for i in incarnations}
    for incarnation in killed:
        if incarnation.in_flight:
            last = next(
                s
                for s in receiver.sends
                if s["message_id"] == incarnation.last_message
                and s["incarnation"] == incarnation.number
            )
            assert incarnation.in_flight <= set(last["rows"]), (
                f"incarnation {incarnation.number} died with rows of an earlier message unsent"
            )
    duplicate_rows = 0
    duplicate_messages: set[tuple[int, str]] = set()
    for row_id, row_copies in copies.items():
        assert len({c["incarnation"] for c in row_copies}) == len(row_copies), (
            f"row {row_id} was sent twice by one process"
        )
        for earlier in row_copies[:-1]:
            dead = by_number[earlier["incarnation"]]
            assert dead.returncode == -signal.SIGKILL, (row_id, dead.number)
            assert row_id in dead.in_flight, (
                f"row {row_id}: copy from incarnation {dead.number} is not explained by its death"
            )
            duplicate_rows += 1
            duplicate_messages.add((dead.number, earlier["message_id"]))
    in_flight_kills = sum(1 for i in killed if i.in_flight)
    assert duplicate_rows == sum(len(i.in_flight) for i in killed)

    modes = Counter(i.mode for i in killed)
    died = Counter(i.died for i in killed)
    print(
        f"\ncrash safety: {len(killed)} SIGKILLs by mode {dict(modes)}; where they hit: "
        f"{dict(died)}; "
        f"{len(incarnations)} processes; {len(outbox)} outbox rows, "
        f"{len(receiver.sends)} messages received; {in_flight_kills} kills left a message "
        f"in flight -> {len(duplicate_messages)} duplicate messages ({duplicate_rows} rows), "
        f"all explained; {time.perf_counter() - began:.1f} s"
    )
