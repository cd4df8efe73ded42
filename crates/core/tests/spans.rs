//! tracing: one span per task, tokio's convention (target `taskloop::task`).
//!
//! A test binary of its own, the one exception to one binary per crate: tracing keeps its
//! callsite interest and maximum level process-wide, so tests running on other threads with
//! no subscriber can switch our callsites off in the middle of this one.

use std::sync::{Arc, Mutex};

use taskloop::{Runtime, TaskBuilder, create_task};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A recorded span: name, target, and its fields as (name, value).
type SpanRecord = (String, String, Vec<(String, String)>);

/// Records spans and follows_from links.
#[derive(Clone, Default)]
struct Recorder {
    spans: Arc<Mutex<Vec<SpanRecord>>>,
    follows: Arc<Mutex<Vec<(u64, u64)>>>,
    next: Arc<Mutex<u64>>,
    /// Entered spans (the loop is single-threaded here), for `Span::current()`.
    stack: Arc<Mutex<Vec<(u64, &'static Metadata<'static>)>>>,
    metas: Arc<Mutex<Vec<&'static Metadata<'static>>>>,
    /// Handles alive per span id (index id - 1), counted as a registry does: one at
    /// `new_span`, one more per `clone_span`, one less per `try_close`.
    handles: Arc<Mutex<Vec<u64>>>,
    /// Ids of the spans whose last handle was dropped.
    closed: Arc<Mutex<Vec<u64>>>,
}

struct Fields(Vec<(String, String)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl Subscriber for Recorder {
    /// Asked on every call rather than cached: other tests hit the same callsites at the same
    /// time with no subscriber, and a cached "never" would hide our spans.
    fn register_callsite(&self, _: &'static Metadata<'static>) -> tracing_core::Interest {
        tracing_core::Interest::sometimes()
    }
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("taskloop")
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(Vec::new());
        span.record(&mut fields);
        let meta = span.metadata();
        self.spans.lock().unwrap().push((meta.name().to_owned(), meta.target().to_owned(), fields.0));
        self.metas.lock().unwrap().push(meta);
        self.handles.lock().unwrap().push(1);
        let mut next = self.next.lock().unwrap();
        *next += 1;
        Id::from_u64(*next)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.follows.lock().unwrap().push((span.into_u64(), follows.into_u64()));
    }
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, id: &Id) {
        let meta = self.metas.lock().unwrap()[id.into_u64() as usize - 1];
        self.stack.lock().unwrap().push((id.into_u64(), meta));
    }
    fn exit(&self, _: &Id) {
        self.stack.lock().unwrap().pop();
    }
    fn clone_span(&self, id: &Id) -> Id {
        self.handles.lock().unwrap()[id.into_u64() as usize - 1] += 1;
        id.clone()
    }
    fn try_close(&self, id: Id) -> bool {
        let mut handles = self.handles.lock().unwrap();
        let left = &mut handles[id.into_u64() as usize - 1];
        *left -= 1;
        if *left == 0 {
            self.closed.lock().unwrap().push(id.into_u64());
        }
        *left == 0
    }
    fn current_span(&self) -> tracing_core::span::Current {
        match self.stack.lock().unwrap().last() {
            Some((id, meta)) => tracing_core::span::Current::new(Id::from_u64(*id), meta),
            None => tracing_core::span::Current::none(),
        }
    }
}

#[test]
fn every_task_gets_a_span_with_its_id_name_and_where_it_was_created_following_its_creator() {
    let recorder = Recorder::default();
    let ids = tracing::subscriber::with_default(recorder.clone(), || {
        Runtime::builder()
            .build()
            .unwrap()
            .run(async {
                let parent = TaskBuilder::new().name("parent").spawn(async {
                    let child = create_task(async { anyhow::Ok(()) });
                    let id = child.id();
                    child.await?;
                    anyhow::Ok(id)
                });
                let parent_id = parent.id();
                let child_id = parent.await?;
                anyhow::Ok((parent_id, child_id))
            })
            .unwrap()
    });
    let (parent_id, child_id) = ids;
    let spans = recorder.spans.lock().unwrap().clone();
    let field = |span: &SpanRecord, name: &str| span.2.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let task_spans: Vec<_> = spans.iter().filter(|s| s.0 == "task" && s.1 == "taskloop::task").collect();
    let parent_span = task_spans.iter().position(|s| field(s, "task.id") == Some(parent_id.to_string())).unwrap();
    let child_span = task_spans.iter().position(|s| field(s, "task.id") == Some(child_id.to_string())).unwrap();
    assert_eq!(field(task_spans[parent_span], "task.name").as_deref(), Some("parent"));
    assert_eq!(field(task_spans[child_span], "task.name"), Some(format!("Task-{child_id}")));
    assert!(field(task_spans[child_span], "loc.file").unwrap().ends_with("spans.rs"), "the caller's location");
    // Span ids are handed out in creation order (1-based), and the child follows its creator.
    let id_of = |i: usize| spans.iter().position(|s| std::ptr::eq(s, task_spans[i])).unwrap() as u64 + 1;
    assert!(recorder.follows.lock().unwrap().contains(&(id_of(child_span), id_of(parent_span))));
}

/// The task's span closes when the task completes, as when the harness held it, and not when
/// the last handle to the task goes.
#[test]
fn a_tasks_span_closes_when_it_completes_while_a_handle_to_it_is_kept() {
    let recorder = Recorder::default();
    let (kept, child_id) = tracing::subscriber::with_default(recorder.clone(), || {
        Runtime::builder()
            .build()
            .unwrap()
            .run(async {
                let child = create_task(async { anyhow::Ok(()) });
                let id = child.id();
                child.clone().await?;
                anyhow::Ok((child, id))
            })
            .unwrap()
    });
    let spans = recorder.spans.lock().unwrap().clone();
    let child_span = spans
        .iter()
        .position(|s| s.0 == "task" && s.2.iter().any(|(k, v)| k == "task.id" && *v == child_id.to_string()))
        .expect("the child has a span") as u64
        + 1;
    assert!(kept.done());
    assert!(
        recorder.closed.lock().unwrap().contains(&child_span),
        "the span of a finished task closed although a handle to the task is kept"
    );
    drop(kept);
}
