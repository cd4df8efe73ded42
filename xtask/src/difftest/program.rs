//! The task programs of the differential test: their JSON form (read by both interpreters; see
//! `crates/difftest/src/main.rs`), the seeded generator, the edits the minimiser tries, and
//! the readable asyncio form printed for a divergence.

use std::fmt::Write as _;

pub(crate) use taskloop_difftest::program::{Catch, Op, Program};

/// A small deterministic generator (splitmix64), so that a seed names the same programs on
/// every machine without a dependency.
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        // The modulo bias is irrelevant for choosing among a handful of ops.
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Generates the programs of one run.
#[derive(Debug)]
pub(crate) struct Generator {
    rng: Rng,
    /// The next id for a message, error, value or callback, unique within a program.
    next_id: u32,
    /// The number of tasks of the program being generated.
    tasks: usize,
}

/// Nested blocks go at most this deep.
const MAX_DEPTH: usize = 2;

impl Generator {
    pub(crate) fn new(seed: u64) -> Generator {
        Generator { rng: Rng::new(seed), next_id: 1, tasks: 0 }
    }

    fn id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// One program: 2–5 tasks, each a few ops; every task but main is created by exactly one
    /// `spawn` or `task_group` op of a task before it, and a task only ever waits for tasks
    /// after it, so nothing waits in a cycle.
    pub(crate) fn program(&mut self) -> Program {
        self.next_id = 1;
        self.tasks = 2 + self.rng.below(4);
        let mut tasks: Vec<Vec<Op>> = (0..self.tasks)
            .map(|i| {
                let len = 1 + self.rng.below(if i == 0 { 4 } else { 5 });
                (0..len).map(|_| self.op(i, 0)).collect()
            })
            .collect();
        // Creation: each task by one task before it, early in that task's body.
        let mut k = 1;
        while k < self.tasks {
            let parent = self.rng.below(k);
            let at = self.rng.below(tasks[parent].len().min(2) + 1);
            if self.rng.chance(25) {
                let mut children = vec![k];
                while k + 1 < self.tasks && self.rng.chance(50) {
                    k += 1;
                    children.push(k);
                }
                tasks[parent].insert(at, Op::TaskGroup { tasks: children });
            } else {
                tasks[parent].insert(at, Op::Spawn { task: k });
            }
            k += 1;
        }
        match self.rng.below(5) {
            0 | 1 => tasks[0].push(Op::Sleep { ms: 300 }),
            2 => tasks[0].push(Op::Wait { tasks: (1..self.tasks).collect(), first: false, timeout_ms: None }),
            _ => {}
        }
        Program { tasks }
    }

    /// Tasks that task `i` may wait for: those after it.
    fn later(&mut self, i: usize) -> Option<usize> {
        (i + 1 < self.tasks).then(|| i + 1 + self.rng.below(self.tasks - i - 1))
    }

    /// A non-empty subset of the tasks after `i`, in order.
    fn later_set(&mut self, i: usize) -> Option<Vec<usize>> {
        let first = self.later(i)?;
        let mut set: Vec<usize> = (i + 1..self.tasks).filter(|&j| j == first || self.rng.chance(40)).collect();
        set.dedup();
        Some(set)
    }

    /// Any task but main and `i`, for the ops that read another task's state.
    fn other(&mut self, i: usize) -> Option<usize> {
        let others: Vec<usize> = (1..self.tasks).filter(|&j| j != i).collect();
        (!others.is_empty()).then(|| self.rng.pick(&others))
    }

    fn ms(&mut self) -> u64 {
        self.rng.pick(&[100, 200, 300])
    }

    fn message(&mut self) -> Option<String> {
        let id = self.id();
        self.rng.chance(70).then(|| format!("m{id}"))
    }

    fn block(&mut self, i: usize, depth: usize) -> Vec<Op> {
        let len = 1 + self.rng.below(3);
        (0..len).map(|_| self.op(i, depth + 1)).collect()
    }

    /// One random op for task `i` at nesting `depth`.
    fn op(&mut self, i: usize, depth: usize) -> Op {
        loop {
            let op = match self.rng.below(26) {
                0..=5 => Some(Op::Sleep { ms: self.rng.pick(&[0, 0, 100, 200, 300]) }),
                6..=8 => self.later(i).map(|task| Op::Await { task }),
                9..=11 => {
                    let task = if self.rng.chance(30) { i } else { self.rng.below(self.tasks) };
                    Some(Op::Cancel { task, msg: self.message() })
                }
                12 | 13 if depth < MAX_DEPTH => {
                    let body = self.block(i, depth);
                    let catch = match self.rng.below(10) {
                        0..=5 => Catch::Cancelled,
                        6 | 7 => Catch::Error,
                        _ => Catch::Any,
                    };
                    Some(Op::Try { body, catch, reraise: self.rng.chance(50) })
                }
                14 => {
                    let task = if self.rng.chance(70) { i } else { self.rng.below(self.tasks) };
                    Some(if self.rng.chance(50) { Op::Uncancel { task } } else { Op::Cancelling { task } })
                }
                15 => self
                    .other(i)
                    .map(|task| if self.rng.chance(50) { Op::Result { task } } else { Op::Exception { task } }),
                16 => Some(Op::Raise { error: format!("E{}", self.id()) }),
                17 => Some(Op::Return { value: i64::from(self.id()) }),
                18 => self.later(i).map(|task| Op::Shield { task }),
                19 => self.later(i).map(|task| Op::WaitFor { task, ms: self.ms() }),
                20 if depth < MAX_DEPTH => Some(Op::Timeout { ms: self.ms(), body: self.block(i, depth) }),
                21 => self
                    .later_set(i)
                    .map(|tasks| if self.rng.chance(50) { Op::Gather { tasks } } else { Op::GatherSettled { tasks } }),
                22 => self.later_set(i).map(|tasks| {
                    let timeout_ms = self.rng.chance(30).then(|| self.ms());
                    Op::Wait { tasks, first: self.rng.chance(50), timeout_ms }
                }),
                23 => self.later_set(i).map(|tasks| Op::AsCompleted { tasks }),
                24 => self.other(i).map(|task| Op::DoneCallback { task, id: self.id() }),
                25 => Some(if self.rng.chance(50) {
                    Op::CallSoon { id: self.id() }
                } else {
                    Op::CallLater { ms: self.ms(), id: self.id() }
                }),
                _ => None,
            };
            if let Some(op) = op {
                return op;
            }
        }
    }
}

/// What the generator and the minimiser do with a program (the format itself is
/// `taskloop_difftest::program`, shared with the interpreter).
pub(crate) trait ProgramExt {
    /// Every program one edit smaller, biggest edits first: drop a task (with every op that
    /// names it), drop an op, or replace a block by its body.
    fn smaller(&self) -> Vec<Program>;
    /// The program without task `k`: ops naming it go, later tasks are renumbered.
    fn without_task(&self, k: usize) -> Program;
    /// The number of ops, nested ones included.
    fn size(&self) -> usize;
    /// The program as the asyncio code it stands for.
    fn to_python(&self) -> String;
}

impl ProgramExt for Program {
    fn smaller(&self) -> Vec<Program> {
        let mut out = Vec::new();
        for k in (1..self.tasks.len()).rev() {
            out.push(self.without_task(k));
        }
        for (i, body) in self.tasks.iter().enumerate() {
            let mut edits = Vec::new();
            block_edits(body, &mut edits);
            out.extend(edits.into_iter().map(|body| {
                let mut smaller = self.clone();
                smaller.tasks[i] = body;
                smaller
            }));
        }
        out
    }

    fn without_task(&self, k: usize) -> Program {
        let renumber = |j: usize| if j > k { j - 1 } else { j };
        let tasks = self
            .tasks
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != k)
            .map(|(_, body)| retarget(body, k, &renumber))
            .collect();
        Program { tasks }
    }

    fn size(&self) -> usize {
        fn count(ops: &[Op]) -> usize {
            ops.iter()
                .map(|op| match op {
                    Op::Try { body, .. } | Op::Timeout { body, .. } => 1 + count(body),
                    _ => 1,
                })
                .sum()
        }
        self.tasks.iter().map(|body| count(body)).sum::<usize>() + self.tasks.len()
    }

    fn to_python(&self) -> String {
        let mut out = String::from("T = {}  # the tasks, by index\n");
        for (k, body) in self.tasks.iter().enumerate() {
            let name = if k == 0 { "main".to_owned() } else { format!("task{k}") };
            let _ = writeln!(out, "async def {name}():");
            if k == 0 {
                out.push_str("    T[0] = asyncio.current_task()\n");
            }
            python_block(body, 1, &mut out);
        }
        out.push_str("asyncio.run(main())  # cbN: a callback that prints when it runs\n");
        out
    }
}

/// `ops` with every mention of task `k` removed and the other indices renumbered.
fn retarget(ops: &[Op], k: usize, renumber: &impl Fn(usize) -> usize) -> Vec<Op> {
    let set = |tasks: &[usize]| -> Vec<usize> { tasks.iter().filter(|&&j| j != k).map(|&j| renumber(j)).collect() };
    ops.iter()
        .filter_map(|op| {
            let mut op = op.clone();
            if let Some(task) = op.task_mut() {
                if *task == k {
                    return None;
                }
                *task = renumber(*task);
                return Some(op);
            }
            match &mut op {
                Op::Gather { tasks }
                | Op::GatherSettled { tasks }
                | Op::Wait { tasks, .. }
                | Op::TaskGroup { tasks }
                | Op::AsCompleted { tasks } => {
                    *tasks = set(tasks);
                    if tasks.is_empty() {
                        return None;
                    }
                }
                Op::Try { body, .. } | Op::Timeout { body, .. } => *body = retarget(body, k, renumber),
                _ => {}
            }
            Some(op)
        })
        .collect()
}

/// Every version of `ops` with one op dropped, or one block replaced by its body.
fn block_edits(ops: &[Op], out: &mut Vec<Vec<Op>>) {
    for (at, op) in ops.iter().enumerate() {
        let mut without = ops.to_vec();
        without.remove(at);
        out.push(without);
        if let Op::Try { body, .. } | Op::Timeout { body, .. } = op {
            let mut inlined = ops[..at].to_vec();
            inlined.extend(body.iter().cloned());
            inlined.extend(ops[at + 1..].iter().cloned());
            out.push(inlined);
            let mut inner = Vec::new();
            block_edits(body, &mut inner);
            for body in inner {
                let mut edited = ops.to_vec();
                match &mut edited[at] {
                    Op::Try { body: b, .. } | Op::Timeout { body: b, .. } => *b = body,
                    _ => unreachable!("the op at `at` is a block"),
                }
                out.push(edited);
            }
        }
    }
}

fn seconds(ms: u64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

fn task_list(tasks: &[usize]) -> String {
    tasks.iter().map(|j| format!("T[{j}]")).collect::<Vec<_>>().join(", ")
}

fn python_block(ops: &[Op], depth: usize, out: &mut String) {
    let pad = "    ".repeat(depth);
    if ops.is_empty() {
        let _ = writeln!(out, "{pad}pass");
    }
    for op in ops {
        let line = match op {
            Op::Spawn { task } => format!("T[{task}] = asyncio.create_task(task{task}())"),
            Op::Sleep { ms } => format!("await asyncio.sleep({})", seconds(*ms)),
            Op::Await { task } => format!("await T[{task}]"),
            Op::Cancel { task, msg: Some(msg) } => format!("print(T[{task}].cancel({msg:?}))"),
            Op::Cancel { task, msg: None } => format!("print(T[{task}].cancel())"),
            Op::Try { body, catch, reraise } => {
                let _ = writeln!(out, "{pad}try:");
                python_block(body, depth + 1, out);
                let caught = match catch {
                    Catch::Cancelled => "asyncio.CancelledError",
                    Catch::Error => "Exception",
                    Catch::Any => "BaseException",
                };
                let _ = writeln!(out, "{pad}except {caught}:");
                let _ = writeln!(out, "{pad}    {}", if *reraise { "raise" } else { "pass" });
                continue;
            }
            Op::Uncancel { task } => format!("print(T[{task}].uncancel())"),
            Op::Cancelling { task } => format!("print(T[{task}].cancelling())"),
            Op::Result { task } => format!("print(T[{task}].result())  # InvalidStateError is printed"),
            Op::Exception { task } => format!("print(T[{task}].exception())  # InvalidStateError is printed"),
            Op::Raise { error } => format!("raise ValueError({error:?})"),
            Op::Return { value } => format!("return {value}"),
            Op::Shield { task } => format!("await asyncio.shield(T[{task}])"),
            Op::WaitFor { task, ms } => format!("await asyncio.wait_for(T[{task}], {})", seconds(*ms)),
            Op::Timeout { ms, body } => {
                let _ = writeln!(out, "{pad}async with asyncio.timeout({}):", seconds(*ms));
                python_block(body, depth + 1, out);
                continue;
            }
            Op::Gather { tasks } => format!("await asyncio.gather({})", task_list(tasks)),
            Op::GatherSettled { tasks } => {
                format!("await asyncio.gather({}, return_exceptions=True)", task_list(tasks))
            }
            Op::Wait { tasks, first, timeout_ms } => {
                let when = if *first { "FIRST_COMPLETED" } else { "ALL_COMPLETED" };
                let timeout = timeout_ms.map_or_else(|| "None".to_owned(), seconds);
                format!("await asyncio.wait([{}], return_when=asyncio.{when}, timeout={timeout})", task_list(tasks))
            }
            Op::TaskGroup { tasks } => {
                let _ = writeln!(out, "{pad}async with asyncio.TaskGroup() as tg:");
                for task in tasks {
                    let _ = writeln!(out, "{pad}    T[{task}] = tg.create_task(task{task}())");
                }
                continue;
            }
            Op::AsCompleted { tasks } => format!("for f in asyncio.as_completed([{}]): await f", task_list(tasks)),
            Op::DoneCallback { task, id } => format!("T[{task}].add_done_callback(cb{id})"),
            Op::CallSoon { id } => format!("asyncio.get_running_loop().call_soon(cb{id})"),
            Op::CallLater { ms, id } => format!("asyncio.get_running_loop().call_later({}, cb{id})", seconds(*ms)),
        };
        let _ = writeln!(out, "{pad}{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_names_the_same_programs() {
        let a: Vec<Program> = (0..50).scan(Generator::new(7), |g, _| Some(g.program())).collect();
        let b: Vec<Program> = (0..50).scan(Generator::new(7), |g, _| Some(g.program())).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn programs_round_trip_through_json() {
        let mut generator = Generator::new(1);
        for _ in 0..50 {
            let program = generator.program();
            let json = serde_json::to_string(&program).unwrap();
            assert_eq!(serde_json::from_str::<Program>(&json).unwrap(), program);
        }
    }

    #[test]
    fn dropping_a_task_renumbers_the_rest() {
        let program = Program {
            tasks: vec![
                vec![Op::Spawn { task: 1 }, Op::Spawn { task: 2 }, Op::Gather { tasks: vec![1, 2] }],
                vec![Op::Await { task: 2 }],
                vec![Op::Sleep { ms: 100 }],
            ],
        };
        let smaller = program.without_task(1);
        assert_eq!(
            smaller.tasks,
            vec![vec![Op::Spawn { task: 1 }, Op::Gather { tasks: vec![1] }], vec![Op::Sleep { ms: 100 }]]
        );
    }
}
