"""The event hub on its own: one reader for every subscriber, out-of-order PostgreSQL commits, gaps,
tenants, backpressure and NOTIFY, on both databases (store-level: no HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest
from gateway_helpers import append_events, log_seqs, until
from sqlalchemy import select

from gateway.events import EventHub, Subscription
from gateway.events.horizon import Horizon
from gateway.store import create_engine, migrate
from gateway.store.jobs import NewJob, create_job
from gateway.store.models import EVENTS

pytestmark = pytest.mark.anyio


# --- the horizon alone ------------------------------------------------------------------------------------


def test_horizon_delivers_a_late_seq_once_and_gives_up_a_gap_only_when_its_writers_ended():
    h = Horizon(10, min_age=1.0)
    assert h.advance([11, 13, 14], now=0.0, xmin=100, xmax=105) == {11, 13, 14}
    assert h.gaps == [12] and h.settled == 11 and h.top == 14
    assert h.advance([], now=5.0, xmin=104, xmax=106) == set()  # a writer of the first read still runs
    assert h.gaps == [12]
    assert h.advance([12, 15], now=5.5, xmin=104, xmax=107) == {12, 15}  # it committed: delivered late
    assert h.gaps == [] and h.settled == 15
    h.advance([17], now=6.0, xmin=107, xmax=110)
    assert h.advance([], now=6.5, xmin=110, xmax=111) == set() and h.gaps == [16]  # too young yet
    h.advance([], now=7.5, xmin=110, xmax=111)
    assert h.gaps == [] and h.given_up == 1 and h.settled == 17  # rolled back: never coming


def test_horizon_without_snapshots_gives_up_gaps_after_min_age_and_caps_how_many_it_keeps():
    h = Horizon(0, min_age=2.0, max_gaps=3)
    assert h.advance([10], now=0.0) == {10}
    assert h.gaps == [1, 2, 3]  # a jump of 9 keeps at most max_gaps
    h.advance([], now=1.0)
    assert h.gaps == [1, 2, 3]
    h.advance([], now=2.5)
    assert h.gaps == [] and h.settled == 10


# --- the hub on a database ----------------------------------------------------------------------------------


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[object]:
    engine = create_engine(database_url)
    await migrate(engine)
    yield engine
    await engine.dispose()


async def new_job(engine, tenant: str = "default") -> str:
    job, _ = await create_job(
        engine, new=NewJob(tenant_id=tenant, pipeline="p", inputs={}, steps=[("a", "llm")])
    )
    return job.id


async def settle(hub: EventHub, engine) -> None:
    """Let the hub read up to the end of the log (so that what it delivers next is new)."""
    async with engine.connect() as conn:
        end = (await conn.execute(select(EVENTS.c.seq).order_by(EVENTS.c.seq.desc()).limit(1))).scalar() or 0
    async with asyncio.timeout(10):
        while hub.settled < end:
            hub.wake()
            await asyncio.sleep(0.02)


async def take(sub: Subscription, n: int, within: float = 10.0) -> list:
    got: list = []
    async with asyncio.timeout(within):
        while len(got) < n:
            await sub.wait()
            got += sub.drain()
            if sub.closed:
                break
    return got


async def test_one_read_serves_every_subscriber_and_tenants_only_see_their_own(engine):
    hub = EventHub(engine, poll_seconds=30)  # only wake-ups (in-process, or NOTIFY) make it read
    await hub.start()
    try:
        job_a, job_b = await new_job(engine), await new_job(engine, tenant="other")
        await settle(hub, engine)
        on_a = [hub.subscribe(tenant_id="default", job_id=job_a) for _ in range(50)]
        tenant_wide = hub.subscribe(tenant_id="default")
        other_wide = hub.subscribe(tenant_id="other")
        everything = hub.subscribe(tenant_id=None)
        reads = hub.reads
        await append_events(engine, job_a, 3)
        await append_events(engine, job_b, 2, tenant="other")
        hub.wake()
        for sub in on_a:
            assert len(await take(sub, 3)) == 3
        assert {e.job_id for e in await take(tenant_wide, 3)} == {job_a}
        assert {e.job_id for e in await take(other_wide, 2)} == {job_b}
        assert len(await take(everything, 5)) == 5
        assert hub.reads - reads <= 3  # one read (or a few wake-ups) for 53 subscribers, not one each
        assert tenant_wide.drain() == [] and other_wide.drain() == []  # nothing of the other tenant came
    finally:
        await hub.stop()


async def test_a_subscriber_that_falls_behind_is_closed_and_others_are_not(engine):
    hub = EventHub(engine, poll_seconds=0.05, max_pending=5)
    await hub.start()
    try:
        job = await new_job(engine)
        await settle(hub, engine)
        slow = hub.subscribe(tenant_id="default", job_id=job)
        roomy = hub.subscribe(tenant_id="default", job_id=job, max_pending=100)
        await append_events(engine, job, 8)
        hub.wake()
        assert len(await take(roomy, 8)) == 8
        assert slow.closed_reason == "behind" and slow.drain() == []  # its queue was dropped, bounded
        assert hub.subscribers() == 1  # the closed one left the hub
    finally:
        await hub.stop()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_postgres_late_commit_with_a_lower_seq_is_not_lost(engine, database_url):
    hub = EventHub(engine, poll_seconds=30, gap_min_age=0.2)  # LISTEN wakes it, not the poll
    await hub.start()
    dsn = database_url.replace("+psycopg", "")
    try:
        await until(lambda: hub.listening)
        job = await new_job(engine)
        await settle(hub, engine)
        sub = hub.subscribe(tenant_id="default", job_id=job)
        early = await psycopg.AsyncConnection.connect(dsn)
        late_writer = await psycopg.AsyncConnection.connect(dsn)
        insert_one = (
            "INSERT INTO job_events (tenant_id, job_id, type, detail, at) "
            "VALUES ('default', %s, 'test.burst', %s, now()) RETURNING seq"
        )
        # The writer that takes the LOWER seq commits LAST.
        await late_writer.execute(
            "UPDATE jobs SET updated_at = now() WHERE id = %s", (job,)
        )  # like every writer
        low = (await (await late_writer.execute(insert_one, (job, "low"))).fetchone())[0]
        high = (await (await early.execute(insert_one, (job, "high"))).fetchone())[0]
        await early.execute("NOTIFY modaline_events")
        assert low < high
        await early.commit()
        first = await take(sub, 1)
        assert [e.seq for e in first] == [high]
        assert hub.settled < low  # the hub still waits for the lower seq
        await asyncio.sleep(0.5)  # older than gap_min_age: only the open transaction keeps it awaited
        hub.wake()
        await asyncio.sleep(0.2)
        assert hub.settled < low
        await late_writer.execute("NOTIFY modaline_events")
        await late_writer.commit()
        second = await take(sub, 1)
        assert [e.seq for e in second] == [low]  # delivered late, not skipped
        # A rolled-back seq is given up once its transaction ended, and the hub moves on.
        gone = await psycopg.AsyncConnection.connect(dsn)
        await gone.execute(insert_one, (job, "rolled back"))
        await append_events(engine, job, 1)
        third = await take(sub, 1)
        await gone.rollback()
        await gone.close()
        async with asyncio.timeout(10):
            while hub.settled < third[0].seq:
                hub.wake()
                await asyncio.sleep(0.1)
        assert sub.drain() == []
        await early.close()
        await late_writer.close()
        assert hub.listener is not None and hub.listener.notifications >= 3
    finally:
        await hub.stop()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_postgres_many_writers_out_of_order_lose_and_repeat_nothing(engine, database_url):
    hub = EventHub(engine, poll_seconds=30, gap_min_age=0.2)
    await hub.start()
    try:
        jobs = [await new_job(engine) for _ in range(8)]
        await settle(hub, engine)
        subs = {job: hub.subscribe(tenant_id="default", job_id=job) for job in jobs}

        async def writer(job: str) -> None:
            for _ in range(25):
                await append_events(engine, job, 2)

        await asyncio.gather(*(writer(job) for job in jobs))
        for job, sub in subs.items():
            got = [e.seq for e in await take(sub, 50)]
            assert got == (await log_seqs(engine, job))[1:]  # every new event, once, in its job's order
    finally:
        await hub.stop()


async def test_the_hub_follows_new_event_types_unchanged(engine):
    hub = EventHub(engine, poll_seconds=0.05)
    await hub.start()
    try:
        job = await new_job(engine)
        await settle(hub, engine)
        sub = hub.subscribe(tenant_id="default", job_id=job)
        await append_events(engine, job, 1, type_="step.delta")
        (event,) = await take(sub, 1)
        assert event.type == "step.delta" and '"type":"step.delta"' in event.data
    finally:
        await hub.stop()
