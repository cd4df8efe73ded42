#!/usr/bin/env python3
"""The taskloop benchmark workloads in Python asyncio (and uvloop, if importable).

Each workload does what the Rust bench of the same name does (benches/<name>.rs), and
reports nanoseconds per operation, the same operation as the Rust bench counts:

  spawn_await        create + await one empty task                          per task
  spawn_await_chain  each task creates and awaits the next, depth 1,000      per task
  sleep_many         100,000 tasks each sleep 1 ms, all awaited             per task
  cancel_many        100,000 sleeping tasks cancelled and awaited (only     per task
                     the cancel and the awaits are timed)
  done_callbacks     one done callback per task, 100,000 tasks              per task
  gather             gather 10,000 tasks that return a number               per gather
  to_thread          one to_thread round trip                               per call
  queue_put_get      one task: await q.put(i); await q.get() (Queue(1024))  per put + get
  queue_handoff      producer -> consumer task over Queue(1): every item    per item
                     wakes the other side
  semaphore          one task: async with sem (Semaphore(1))                per acquire + release
  memory             resident bytes per idle task, 100,000 tasks asleep    bytes per task

Timings are the median of several runs (one with --quick), each on a fresh event loop;
the memory figure is measured in a fresh interpreter (VmRSS from /proc/self/status, so
Linux only; null elsewhere).

usage: bench_asyncio.py [--json] [--quick]
  --json   print {"<workload>": {"asyncio": ns_per_op, "uvloop": ns_per_op or null}} only
  --quick  smaller counts and a single run (about 20 s a loop instead of about a minute)
"""

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time

try:
    import uvloop
except ImportError:
    uvloop = None

# Tasks alive at once in the batch workloads, as in the Rust benches.
BATCH = 100_000
# The depth of a spawn_await_chain chain.
DEPTH = 1_000
# Tasks per gather.
GATHER_TASKS = 10_000
# Longer than any run: these tasks only end by cancellation.
FOREVER = 24 * 3600


def log(message):
    print(message, file=sys.stderr, flush=True)


# --- the workloads: each is `async def workload(n) -> (ops, elapsed_ns)` ----------------------


async def empty():
    pass


async def spawn_await(n):
    start = time.perf_counter_ns()
    for _ in range(n):
        await asyncio.create_task(empty())
    return n, time.perf_counter_ns() - start


async def link(depth):
    if depth <= 1:
        return 1
    return await asyncio.create_task(link(depth - 1)) + 1


async def spawn_await_chain(n):
    chains = max(1, n // DEPTH)
    start = time.perf_counter_ns()
    for _ in range(chains):
        ran = await asyncio.create_task(link(DEPTH))
        assert ran == DEPTH
    return chains * DEPTH, time.perf_counter_ns() - start


async def nap():
    await asyncio.sleep(0.001)


async def sleep_many(n):
    start = time.perf_counter_ns()
    tasks = [asyncio.create_task(nap()) for _ in range(n)]
    for task in tasks:
        await task
    return n, time.perf_counter_ns() - start


async def cancel_many(n):
    asleep = 0

    async def sleeper():
        nonlocal asleep
        asleep += 1
        await asyncio.sleep(FOREVER)

    tasks = [asyncio.create_task(sleeper()) for _ in range(n)]
    while asleep < n:
        await asyncio.sleep(0)
    # Only the cancel and the awaits are timed, as in the Rust bench.
    start = time.perf_counter_ns()
    for task in tasks:
        task.cancel()
    for task in tasks:
        try:
            await task
        except asyncio.CancelledError:
            pass
        else:
            raise AssertionError("a task did not end cancelled")
    return n, time.perf_counter_ns() - start


async def done_callbacks(n):
    all_done = asyncio.get_running_loop().create_future()
    seen = 0

    def callback(_task):
        nonlocal seen
        seen += 1
        if seen == n:
            all_done.set_result(None)

    start = time.perf_counter_ns()
    for _ in range(n):
        asyncio.create_task(empty()).add_done_callback(callback)
    await all_done
    return n, time.perf_counter_ns() - start


async def value(i):
    return i


async def gather(n):
    start = time.perf_counter_ns()
    for _ in range(n):
        values = await asyncio.gather(*[asyncio.create_task(value(i)) for i in range(GATHER_TASKS)])
        assert len(values) == GATHER_TASKS
    return n, time.perf_counter_ns() - start


def identity(i):
    return i


async def to_thread(n):
    await asyncio.to_thread(identity, 0)  # the executor's first worker exists before timing
    start = time.perf_counter_ns()
    for i in range(n):
        await asyncio.to_thread(identity, i)
    return n, time.perf_counter_ns() - start


async def queue_put_get(n):
    q = asyncio.Queue(1024)
    start = time.perf_counter_ns()
    for i in range(n):
        await q.put(i)
        assert await q.get() == i
    return n, time.perf_counter_ns() - start


async def queue_handoff(n):
    q = asyncio.Queue(1)

    async def consumer():
        for i in range(n):
            assert await q.get() == i

    start = time.perf_counter_ns()
    task = asyncio.create_task(consumer())
    for i in range(n):
        await q.put(i)
    await task
    return n, time.perf_counter_ns() - start


async def semaphore(n):
    sem = asyncio.Semaphore(1)
    start = time.perf_counter_ns()
    for _ in range(n):
        async with sem:
            pass
    return n, time.perf_counter_ns() - start


# (name, function, n, n with --quick)
WORKLOADS = [
    ("spawn_await", spawn_await, 20_000, 5_000),
    ("spawn_await_chain", spawn_await_chain, 20_000, 5_000),
    ("sleep_many", sleep_many, BATCH, BATCH),
    ("cancel_many", cancel_many, BATCH, BATCH),
    ("done_callbacks", done_callbacks, BATCH, BATCH),
    ("gather", gather, 5, 2),
    ("to_thread", to_thread, 2_000, 500),
    ("queue_put_get", queue_put_get, 200_000, 50_000),
    ("queue_handoff", queue_handoff, 100_000, 20_000),
    ("semaphore", semaphore, 200_000, 50_000),
]


# --- running them ---------------------------------------------------------------------------


def loop_factories():
    factories = {"asyncio": asyncio.new_event_loop}
    if uvloop is not None:
        factories["uvloop"] = uvloop.new_event_loop
    return factories


def run_on(factory, coro):
    """Runs `coro` to completion on a fresh loop made by `factory`."""
    if hasattr(asyncio, "Runner"):  # Python 3.11+
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(coro)
    loop = factory()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro)
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def measure(factory, workload, n, runs):
    per_op = []
    for _ in range(runs):
        ops, elapsed = run_on(factory, workload(n))
        per_op.append(elapsed / ops)
    return statistics.median(per_op)


def resident_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS line in /proc/self/status")


async def idle_tasks(n):
    before = resident_bytes()
    tasks = [asyncio.create_task(asyncio.sleep(FOREVER)) for _ in range(n)]
    await asyncio.sleep(0)  # every task runs its first step and goes to sleep
    after = resident_bytes()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return (after - before) / n


def memory(loop_name):
    """Bytes per idle task, measured in a fresh interpreter for a clean allocator."""
    if not os.path.exists("/proc/self/status"):
        return None
    output = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--memory-child", loop_name],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(output.stdout.strip())


def main(argv):
    if argv[:1] == ["--memory-child"]:
        print(run_on(loop_factories()[argv[1]], idle_tasks(BATCH)))
        return 0
    unknown = [arg for arg in argv if arg not in ("--json", "--quick")]
    if unknown:
        print(__doc__, file=sys.stderr)
        print(f"unknown argument(s): {' '.join(unknown)}", file=sys.stderr)
        return 2
    as_json = "--json" in argv
    quick = "--quick" in argv
    runs = 1 if quick else 3

    factories = loop_factories()
    if uvloop is None:
        log("bench_asyncio: uvloop is not installed (pip install uvloop); its column is null")
    results = {}
    for name, workload, n, quick_n in WORKLOADS:
        row = {"asyncio": None, "uvloop": None}
        for loop_name, factory in factories.items():
            row[loop_name] = measure(factory, workload, quick_n if quick else n, runs)
            log(f"bench_asyncio: {name:<18} {loop_name:<8} {row[loop_name]:>12,.0f} ns/op")
        results[name] = row
    row = {"asyncio": None, "uvloop": None}
    for loop_name in factories:
        row[loop_name] = memory(loop_name)
        if row[loop_name] is not None:
            log(f"bench_asyncio: {'memory':<18} {loop_name:<8} {row[loop_name]:>12,.0f} bytes/task")
    results["memory"] = row

    if as_json:
        print(json.dumps(results, indent=2))
        return 0
    version = f"Python {sys.version.split()[0]}" + (f", uvloop {uvloop.__version__}" if uvloop else "")
    print(f"{version}; ns per op (memory: bytes per idle task)\n")
    print("| workload | asyncio | uvloop |")
    print("| --- | ---: | ---: |")
    for name, row in results.items():
        cells = ["" if v is None else f"{v:,.0f}" for v in (row["asyncio"], row["uvloop"])]
        print(f"| {name} | {cells[0]} | {cells[1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
