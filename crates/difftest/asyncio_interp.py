"""The asyncio side of taskloop's differential test (`cargo xtask difftest`).

Reads task programs, one JSON object a line, from the file named on the command line (the
format is documented in `crates/difftest/src/main.rs`), runs each on CPython's own asyncio and
prints one JSON line per program: every task's events (virtual milliseconds, text), every
task's final state, and whether the program was skipped because asyncio leaves its order
unspecified. The first line printed describes the interpreter.

Time is virtual: the loop is a `SelectorEventLoop` whose `time()` reads a millisecond counter
and whose selector's `select(timeout)` advances that counter by `timeout` instead of
blocking, so a program sleeping for seconds runs in microseconds and every run is the same.

Where asyncio leaves an order unspecified, this file picks one and notes that it did:
timers due at the same instant (asyncio keeps them in a heap, which is not stable), the
iteration over the set of a `TaskGroup`'s children when it aborts, over the set of leftover
tasks that `asyncio.run` cancels, and the set `as_completed` registers its callbacks from.
A program that reached such a point is run again with other choices (the opposite ones, then
random orders of the timers' sources and of the sets, `VARIANTS` runs in all); if any two traces differ, the
program is reported as skipped (its outcome depends on an order asyncio does not specify).
With three or more sources due at one instant, the opposite order alone misses orders that
asyncio's heap can give (a cancelled timer of one source ranked it first in both). `as_completed` of two or more tasks already done is skipped at
once: the order of its set is not ours to choose.

Tasks are the pure-Python `asyncio.tasks._PyTask`, with changes that are taskloop's documented
behaviour (README, "Differences from asyncio") or a later CPython's:

- every reader of a cancelled task's outcome sees the message of the cancellation that ended
  it (asyncio gives the original exception to the first reader only; taskloop keeps the
  message for all, a deliberate difference); the same holds for what `shield` and `TaskGroup`
  pass on: a `shield` whose inner task ended cancelled raises that task's message, and a
  cancelled `TaskGroup` cancels its children with the message that cancelled it (asyncio's
  `shield` and `TaskGroup._abort` pass none); but a request to the caller that comes after the
  inner's end and before the caller resumes is what the `shield` raises (asyncio raises the
  inner's cancellation: taskloop's `shield` is generic over its future, so it cannot tell a
  cancelled task from a value),
- a cancelled `gather` reports the cancellation, with the message it passed on, even if a child
  failed while it was being cancelled (asyncio reports that failure, or a message taken from
  its last child), and only once every child has ended (asyncio's resolves at the first child
  that ends cancelled): taskloop's documented choice,
- `asyncio.run` stops right after main's done callbacks have run (the steps and callbacks
  queued before main ended run first; taskloop's documented choice, as tokio has no loop
  iterations): asyncio finishes the loop iteration its stop callback runs in, which may also
  run steps queued just after main ended; here those are kept for the leftover cancellation
  (`Task._Future__schedule_callbacks` queues the stop, `ReadyQueue` holds them back),
- a task created while `run` cancels the leftovers is cancelled before it starts (asyncio
  leaves it pending), and
- on CPython before 3.13, `uncancel()` reaching 0 also withdraws an undelivered request
  (3.13's behaviour); before 3.12, `wait_for` is 3.12's (`async with timeout(t): return await
  fut`), and a `gather` of tasks all done is done at once (3.12's).
"""

import asyncio
import collections
import heapq
import json
import random
import selectors
import sys
from asyncio import events

PY = sys.version_info[:2]

# Runs of a program that reached an order asyncio leaves open (see the module docs).
VARIANTS = 6


def describe():
    """The header line: which CPython, and what is emulated."""
    notes = [
        "cancel messages seen by every reader, passed on by shield and TaskGroup (taskloop's documented choice)",
        "a cancelled gather reports its cancellation over a child's later failure (taskloop's documented choice)",
    ]
    if PY < (3, 12):
        notes.append("wait_for emulates 3.12 (async with timeout)")
    if PY < (3, 13):
        notes.append("Task.uncancel emulates 3.13 (reaching 0 withdraws the request)")
        notes.append("gather of finished tasks emulates 3.12 (done at once)")
    version = ".".join(map(str, sys.version_info[:3]))
    return {"interpreter": f"CPython {version}", "notes": notes}


class Deadlock(Exception):
    """The loop has nothing ready and no timer: it would block forever."""


class VirtualSelector(selectors.SelectSelector):
    """A selector that never waits: `select(timeout)` moves the loop's clock on instead."""

    def __init__(self):
        super().__init__()
        self.loop = None

    def select(self, timeout=None):
        if timeout is None:
            raise Deadlock("nothing ready and no timer scheduled")
        self.loop.now_ms += round(timeout * 1000)
        return []


class ReadyQueue(collections.deque):
    """The loop's ready queue. After `hold()` (main's end), the rest of the current iteration's
    handles are set aside instead of run, and `release()` puts them back in front: what
    taskloop's `run` does, which cancels the leftovers before any of them runs again."""

    def __init__(self, loop):
        super().__init__()
        self.holding = False
        self.held = []
        self.skip = events.Handle(lambda: None, (), loop)
        self.skip.cancel()

    def popleft(self):
        handle = super().popleft()
        if not self.holding:
            return handle
        self.held.append(handle)
        return self.skip

    def hold(self):
        self.holding = True

    def release(self):
        self.holding = False
        self.extendleft(reversed(self.held))
        self.held = []


class OrderedTimer(events.TimerHandle):
    """A timer ordered by an explicit key, so that ties have a chosen order."""

    __slots__ = ("key",)

    def __lt__(self, other):
        return self.key < other.key


class VirtualLoop(asyncio.SelectorEventLoop):
    """A selector loop on a virtual millisecond clock."""

    def __init__(self, run):
        self.now_ms = 0
        self.run = run
        self._seq = 0
        self._first_seq = {}
        self._sources = {}
        selector = VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        self._ready = ReadyQueue(self)

    def time(self):
        return self.now_ms / 1000

    def call_at(self, when, callback, *args, context=None):
        # Deadlines are whole milliseconds, so that 0.2 + 0.1 is due with 0.3.
        ms = round(when * 1000)
        task = asyncio.current_task(self) if self.is_running() else None
        source = getattr(task, "index", "loop") if task is not None else "loop"
        self._seq += 1
        first = self._first_seq.setdefault((ms, source), self._seq)
        # Same-instant timers of one source run in the order scheduled; between sources
        # asyncio's heap gives no order: first-come first in the first run, reversed in the
        # second.
        rank = self.run.timer_rank(first)
        sources = self._sources.setdefault(ms, set())
        sources.add(source)
        if len(sources) > 1:
            self.run.touch("timers due at the same instant from different tasks")
        timer = OrderedTimer(ms / 1000, callback, args, self, context)
        timer.key = (ms, rank, self._seq)
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True
        return timer


class Task(asyncio.tasks._PyTask):
    """asyncio's pure-Python task, with the changes the module doc lists."""

    def _make_cancelled_error(self):
        if self._cancelled_exc is not None:
            return asyncio.CancelledError(*self._cancelled_exc.args)
        return super()._make_cancelled_error()

    # `gather(..., return_exceptions=True)` reads the message of a cancelled child from
    # `_cancel_message`, which `Future.cancel()` resets when the body's CancelledError ends
    # the task: once cancelled, it is the message of the exception that ended the task.
    @property
    def _cancel_message(self):
        if self._state == "CANCELLED" and self._cancelled_exc is not None:
            args = self._cancelled_exc.args
            return args[0] if args else None
        return self.__dict__.get("_stored_cancel_message")

    @_cancel_message.setter
    def _cancel_message(self, message):
        self.__dict__["_stored_cancel_message"] = message

    def _Future__schedule_callbacks(self):
        # Main's end stops `run` once the done callbacks it queues now have run.
        super()._Future__schedule_callbacks()
        if getattr(self, "index", None) == 0:
            self._loop.call_soon(self._loop._ready.hold)

    if PY < (3, 13):

        def uncancel(self):
            if self._num_cancels_requested > 0:
                self._num_cancels_requested -= 1
                if self._num_cancels_requested == 0:
                    self._must_cancel = False
            return self._num_cancels_requested


if PY < (3, 12):

    async def wait_for(fut, timeout):
        """asyncio 3.12's `wait_for` (our timeouts are always positive)."""
        async with asyncio.timeout(timeout):
            return await fut

else:
    wait_for = asyncio.wait_for


async def shield(task):
    """`asyncio.shield`, raising the message of an inner task that ended cancelled (asyncio's
    outer future is cancelled without one); the caller's own cancellation is left as it is.
    The two are told apart by who cancelled the outer future: the caller's request comes
    through `Task.cancel`/`__step` as `cancel(msg=...)`, the inner's end through
    `_inner_done_callback` as a bare `cancel()`."""
    before = asyncio.current_task().cancelling()
    outer = asyncio.shield(task)
    if outer is task:
        return await outer
    by_inner = []
    cancel = outer.cancel

    def cancel_noting(*args, **kwargs):
        accepted = cancel(*args, **kwargs)
        if accepted and not args and not kwargs:
            by_inner.append(True)
        return accepted

    outer.cancel = cancel_noting
    try:
        return await outer
    except asyncio.CancelledError:
        me = asyncio.current_task()
        if by_inner and me.cancelling() > before:
            # A request made after the inner's end set the outer, before the caller resumed:
            # taskloop's shield delivers that request (its message), not the inner's.
            message = me._cancel_message
            raise asyncio.CancelledError(*([message] if message is not None else [])) from None
        if by_inner:
            raise task._make_cancelled_error() from None
        raise


async def gather(tasks, settled):
    """`asyncio.gather`, reporting its cancellation (with the first message passed to it) when
    a child failed after the gather was cancelled, as taskloop documents."""
    if PY < (3, 12) and tasks and all(t.done() for t in tasks):
        # 3.12+ runs the done callbacks of children already done inside `gather()`, so a gather
        # of finished tasks is done before it is awaited and does not suspend.
        results = []
        for t in tasks:
            error = t._make_cancelled_error() if t.cancelled() else t.exception()
            if error is not None and not settled:
                raise error
            results.append(t.result() if error is None else error)
        return results
    outer = asyncio.gather(*tasks, return_exceptions=settled)
    messages = []
    cancel = outer.cancel

    def cancel_and_note(msg=None):
        accepted = cancel(msg=msg)
        if accepted and not messages:
            messages.append(msg)
        return accepted

    outer.cancel = cancel_and_note
    try:
        return await outer
    except Exception:
        if messages:
            raise await cancelled_once_all_done(tasks, messages[0]) from None
        raise
    except asyncio.CancelledError:
        # CPython builds this error from the *last* child's `_make_cancelled_error()` (3.13's
        # `_done_callback`), so its message is that child's, or none; taskloop reports the
        # message of the cancellation the gather passed on.
        if messages:
            raise await cancelled_once_all_done(tasks, messages[0]) from None
        raise


async def cancelled_once_all_done(tasks, message):
    """A cancelled gather's end as taskloop documents it: it waits for every child (asyncio's
    resolves at the first child that ends cancelled), passing later requests on to those still
    running, and then reports the first cancellation it passed on."""
    while pending := [t for t in tasks if not t.done()]:
        try:
            await asyncio.wait(pending)
        except asyncio.CancelledError as e:
            for t in pending:
                t.cancel(*e.args)
    return asyncio.CancelledError(*([message] if message is not None else []))


class TaskGroup(asyncio.TaskGroup):
    """`asyncio.TaskGroup`, whose abort on its parent's cancellation passes that cancellation's
    message to the children (asyncio's `_abort` passes none). `_abort` runs inside the handler
    of the `CancelledError` that caused it, so `sys.exc_info()` is that error."""

    def _abort(self):
        error = sys.exc_info()[1]
        message = error.args[0] if isinstance(error, asyncio.CancelledError) and error.args else None
        self._aborting = True
        for task in self._tasks:
            if not task.done():
                task.cancel(message)


class OrderedSet:
    """The set of a `TaskGroup`'s children, iterated in insertion order (or reversed)."""

    def __init__(self, run):
        self._items = {}
        self._run = run

    def add(self, item):
        self._items[item] = None

    def discard(self, item):
        self._items.pop(item, None)

    def __len__(self):
        return len(self._items)

    def __bool__(self):
        return bool(self._items)

    def __contains__(self, item):
        return item in self._items

    def __iter__(self):
        items = list(self._items)
        if sum(not t.done() for t in items) >= 2:
            self._run.touch("TaskGroup cancels its children in set order")
        return iter(self._run.set_order(items))


def fmt_exc(e):
    """An exception as the trace writes it."""
    if isinstance(e, asyncio.CancelledError):
        return f"Cancelled({e.args[0] if e.args and e.args[0] is not None else ''})"
    if isinstance(e, TimeoutError):
        return "Timeout"
    if isinstance(e, BaseExceptionGroup):
        return "Group(" + ",".join(fmt_exc(x) for x in e.exceptions) + ")"
    if isinstance(e, asyncio.InvalidStateError):
        return "InvalidState"
    if isinstance(e, ValueError) and e.args:
        return f"Error({e.args[0]})"
    return f"Other({type(e).__name__}: {e})"


def final_state(task):
    """A task's final state as the trace writes it."""
    if task is None:
        return "unspawned"
    if not task.done():
        return "pending"
    if task.cancelled():
        return "cancelled " + fmt_exc(task._make_cancelled_error())
    exc = task.exception()
    if exc is not None:
        return "failed " + fmt_exc(exc)
    return f"value {task.result()}"


def catches(kind, e):
    """Whether `except` of `kind` catches `e`."""
    if kind == "cancelled":
        return isinstance(e, asyncio.CancelledError)
    if kind == "error":
        return isinstance(e, Exception)
    return True


class Run:
    """One run of one program."""

    def __init__(self, program, variant):
        self.program = program
        # Variant 0 takes the first-come order everywhere, 1 the opposite; past 1, timers of
        # different sources due at one instant, and sets, come in random orders of their own.
        self.variant = variant
        self.touched = None
        self.skip = None
        self.tasks = [None] * len(program["tasks"])
        self.traces = {}
        self.loop = None
        # `run` is cancelling the leftovers: a task created now starts cancelled.
        self.stopping = False

    def timer_rank(self, first):
        """Where a source's timers rank among other sources' due at the same instant; `first`:
        the sequence number of the source's first timer there."""
        if self.variant <= 1:
            return -first if self.variant == 1 else first
        return random.Random(f"{self.variant}:{first}").random()

    def set_order(self, items):
        """The order this run iterates a set in: first-come, the opposite, or past variant 1 a
        random one of its own."""
        items = list(items)
        if self.variant == 1:
            items.reverse()
        elif self.variant > 1:
            random.Random(self.variant).shuffle(items)
        return items

    def touch(self, reason):
        """An order asyncio leaves open was reached, one this file picks (and can reverse)."""
        if self.touched is None:
            self.touched = reason

    def unspecified(self, reason):
        """An order asyncio leaves open was reached, one this file cannot pick."""
        if self.skip is None:
            self.skip = reason

    def log(self, key, text):
        self.traces.setdefault(key, []).append([self.loop.now_ms, text])

    def spawned(self, ks):
        return [(j, self.tasks[j]) for j in ks if self.tasks[j] is not None]

    def create(self, j, create_task):
        task = create_task(self.run_task(j))
        task.index = j
        self.tasks[j] = task
        if self.stopping:
            task.cancel()
        return task

    async def run_task(self, k):
        self.log(f"t{k}", "start")
        value = await self.block(k, self.program["tasks"][k])
        return 100 * k if value is None else value

    async def block(self, k, ops):
        for op in ops:
            value = await self.op(k, op)
            if value is not None:
                return value
        return None

    async def logged(self, key, label, awaitable, show=str):
        try:
            value = await awaitable
        except BaseException as e:
            self.log(key, f"{label}: raise {fmt_exc(e)}")
            raise
        shown = show(value)
        self.log(key, f"{label}: ok {shown}" if shown else f"{label}: ok")
        return value

    async def op(self, k, op):
        key = f"t{k}"
        kind = op["op"]
        target = op.get("task")
        task = self.tasks[target] if target is not None else None
        if target is not None and kind != "spawn" and task is None:
            self.log(key, f"{kind} {target}: unspawned")
            return None
        if kind == "spawn":
            self.create(target, asyncio.get_running_loop().create_task)
            self.log(key, f"spawn {target}")
        elif kind == "sleep":
            await self.logged(key, f"sleep {op['ms']}", asyncio.sleep(op["ms"] / 1000), lambda _: "")
        elif kind == "await":
            await self.logged(key, f"await {target}", task)
        elif kind == "cancel":
            msg = op.get("msg")
            accepted = task.cancel(msg) if msg is not None else task.cancel()
            self.log(key, f"cancel {target} {msg or ''}: {str(accepted).lower()}")
        elif kind == "try":
            try:
                return await self.block(k, op["body"])
            except BaseException as e:
                if not catches(op["catch"], e):
                    raise
                self.log(key, f"caught {fmt_exc(e)}")
                if op["reraise"]:
                    raise
        elif kind == "uncancel":
            self.log(key, f"uncancel {target}: {task.uncancel()}")
        elif kind == "cancelling":
            self.log(key, f"cancelling {target}: {task.cancelling()}")
        elif kind == "result":
            try:
                self.log(key, f"result {target}: ok {task.result()}")
            except BaseException as e:
                self.log(key, f"result {target}: raise {fmt_exc(e)}")
        elif kind == "exception":
            try:
                exc = task.exception()
                self.log(key, f"exception {target}: {'none' if exc is None else fmt_exc(exc)}")
            except BaseException as e:
                self.log(key, f"exception {target}: raise {fmt_exc(e)}")
        elif kind == "raise":
            self.log(key, f"raise {op['error']}")
            raise ValueError(op["error"])
        elif kind == "return":
            self.log(key, f"return {op['value']}")
            return op["value"]
        elif kind == "shield":
            await self.logged(key, f"shield {target}", shield(task))
        elif kind == "wait_for":
            await self.logged(key, f"wait_for {target} {op['ms']}", wait_for(task, op["ms"] / 1000))
        elif kind == "timeout":
            try:
                async with asyncio.timeout(op["ms"] / 1000):
                    value = await self.block(k, op["body"])
            except BaseException as e:
                self.log(key, f"timeout {op['ms']}: raise {fmt_exc(e)}")
                raise
            self.log(key, f"timeout {op['ms']}: ok")
            return value
        elif kind in ("gather", "gather_settled"):
            tasks = self.spawned(op["tasks"])
            label = f"{kind} {fmt_list([j for j, _ in tasks])}"
            settled = kind == "gather_settled"
            show = (lambda vs: "[" + ", ".join(fmt_outcome(v) for v in vs) + "]") if settled else fmt_list
            await self.logged(key, label, gather([t for _, t in tasks], settled), show)
        elif kind == "wait":
            tasks = self.spawned(op["tasks"])
            label = f"wait {fmt_list([j for j, _ in tasks])}"
            if not tasks:
                self.log(key, f"{label}: empty")
                return None
            when = asyncio.FIRST_COMPLETED if op["first"] else asyncio.ALL_COMPLETED
            timeout = op.get("timeout_ms")
            aw = asyncio.wait([t for _, t in tasks], return_when=when, timeout=timeout and timeout / 1000)

            def show(result):
                done, _ = result
                return f"done {fmt_list([j for j, t in tasks if t in done])}"

            await self.logged(key, label, aw, show)
        elif kind == "task_group":
            label = f"task_group {fmt_list(op['tasks'])}"
            try:
                async with TaskGroup() as group:
                    group._tasks = OrderedSet(self)
                    for j in op["tasks"]:
                        self.create(j, group.create_task)
                        self.log(key, f"spawn {j}")
            except BaseException as e:
                self.log(key, f"{label}: raise {fmt_exc(e)}")
                raise
            self.log(key, f"{label}: ok")
        elif kind == "as_completed":
            tasks = self.spawned(op["tasks"])
            if sum(t.done() for _, t in tasks) >= 2:
                self.unspecified("as_completed of tasks already done (set order)")
            label = f"as_completed {fmt_list([j for j, _ in tasks])}"
            for next_done in asyncio.as_completed([t for _, t in tasks]):
                await self.logged(key, f"{label} item", next_done)
        elif kind == "done_callback":
            cb = f"cb{op['id']}"
            task.add_done_callback(lambda t: self.log(cb, f"ran: task {target} {final_state(t)}"))
            self.log(key, f"done_callback {target}")
        elif kind == "call_soon":
            cb = f"cb{op['id']}"
            self.loop.call_soon(lambda: self.log(cb, "ran"))
            self.log(key, f"call_soon {op['id']}")
        elif kind == "call_later":
            cb = f"cb{op['id']}"
            self.loop.call_later(op["ms"] / 1000, lambda: self.log(cb, "ran"))
            self.log(key, f"call_later {op['id']} {op['ms']}")
        else:
            raise RuntimeError(f"unknown op {kind!r}")
        return None


def fmt_list(values):
    return "[" + ", ".join(map(str, values)) + "]"


def fmt_outcome(value):
    return fmt_exc(value) if isinstance(value, BaseException) else f"ok {value}"


def run_once(program, variant):
    """Runs `program` as `asyncio.run` would; returns the `Run` with its traces."""
    run = Run(program, variant)
    loop = VirtualLoop(run)
    run.loop = loop
    loop.set_task_factory(lambda loop, coro, **kw: Task(coro, loop=loop, **kw))
    loop.set_exception_handler(lambda loop, context: None)
    error = None
    try:
        main = run.create(0, loop.create_task)
        try:
            loop.run_until_complete(main)
        except Deadlock:
            raise
        except BaseException:
            pass
        run.stopping = True
        loop._ready.release()
        # `asyncio.runners._cancel_all_tasks`, with the set of leftovers in creation order.
        leftovers = sorted(asyncio.all_tasks(loop), key=lambda t: getattr(t, "index", -1))
        if len(leftovers) >= 2:
            run.touch("asyncio.run cancels leftover tasks in set order")
            leftovers = run.set_order(leftovers)
        for task in leftovers:
            task.cancel()
        if leftovers:
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        # A task created while `run` shuts down starts cancelled (taskloop's documented choice;
        # asyncio leaves it pending); it is awaited too.
        while late := sorted(asyncio.all_tasks(loop), key=lambda t: getattr(t, "index", -1)):
            for task in late:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*late, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    except Deadlock as e:
        error = f"deadlock: {e}"
    finally:
        loop.close()
    run.error = error
    return run


def result_of(program):
    first = run_once(program, 0)
    out = {
        "traces": first.traces,
        "final": [final_state(t) for t in first.tasks],
        "error": first.error,
        "skip": first.skip,
    }
    for variant in range(1, VARIANTS if first.skip is None and first.touched is not None else 1):
        other = run_once(program, variant)
        final = [final_state(t) for t in other.tasks]
        if other.skip is not None:
            out["skip"] = other.skip
            break
        if other.traces != first.traces or final != out["final"]:
            out["skip"] = first.touched
            break
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: asyncio_interp.py PROGRAMS.jsonl")
    out = sys.stdout
    out.write(json.dumps(describe()) + "\n")
    with open(sys.argv[1]) as programs:
        for line in programs:
            if line.strip():
                out.write(json.dumps(result_of(json.loads(line))) + "\n")


if __name__ == "__main__":
    main()
