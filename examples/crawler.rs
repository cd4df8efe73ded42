//! A crawler-style worker pool: asyncio's `Queue` + `task_done()` + `join()`.
//!
//! The asyncio program it mirrors:
//!
//! ```python
//! async def worker(name, queue, seen, pages):
//!     while True:
//!         url = await queue.get()
//!         links = await fetch(url)
//!         pages[url] = links
//!         for link in links:
//!             if link not in seen:
//!                 seen.add(link)
//!                 queue.put_nowait(link)
//!         queue.task_done()
//!
//! queue = asyncio.Queue(); seen = {"/"}; queue.put_nowait("/")
//! workers = [asyncio.create_task(worker(f"worker-{i}", queue, seen, pages)) for i in range(3)]
//! await queue.join()            # every page fetched, and every link it had queued
//! for w in workers: w.cancel()
//! await asyncio.gather(*workers, return_exceptions=True)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskloop::prelude::*;
use taskloop::sync::Queue;

/// The site: each page and the links on it.
fn site() -> BTreeMap<&'static str, Vec<&'static str>> {
    BTreeMap::from([
        ("/", vec!["/docs", "/blog", "/about"]),
        ("/docs", vec!["/docs/tasks", "/docs/sync", "/"]),
        ("/docs/tasks", vec!["/docs", "/docs/sync"]),
        ("/docs/sync", vec!["/docs/tasks", "/blog/queues"]),
        ("/blog", vec!["/blog/queues", "/blog/locks"]),
        ("/blog/queues", vec!["/docs/sync"]),
        ("/blog/locks", vec!["/blog"]),
        ("/about", vec![]),
    ])
}

/// Fetches a page: a short sleep standing in for the request, then its links.
async fn fetch(url: &str) -> anyhow::Result<Vec<&'static str>> {
    sleep(Duration::from_millis(5 + url.len() as u64)).await?;
    Ok(site().get(url).cloned().unwrap_or_default())
}

type Pages = Arc<Mutex<BTreeMap<&'static str, usize>>>;

async fn worker(
    queue: Queue<&'static str>,
    seen: Arc<Mutex<BTreeSet<&'static str>>>,
    pages: Pages,
) -> anyhow::Result<()> {
    loop {
        let url = queue.get().await?; // a cancellation point: the pool is cancelled here
        let links = fetch(url).await?;
        pages.lock().unwrap().insert(url, links.len());
        for link in links {
            if seen.lock().unwrap().insert(link) {
                queue.put_nowait(link)?;
            }
        }
        queue.task_done()?;
    }
}

fn main() -> anyhow::Result<()> {
    taskloop::run(async {
        let queue = Queue::new(0);
        let seen = Arc::new(Mutex::new(BTreeSet::from(["/"])));
        let pages: Pages = Arc::default();
        queue.put_nowait("/")?;
        println!("crawling from / with 3 workers");
        let workers: Vec<_> = (0..3).map(|_| create_task(worker(queue.clone(), seen.clone(), pages.clone()))).collect();

        queue.join().await?;
        println!("queue joined: every page fetched");
        for (url, links) in pages.lock().unwrap().iter() {
            println!("  {url} ({links} links)");
        }

        for worker in &workers {
            worker.cancel();
        }
        let outcomes = gather_settled(workers).await?;
        let cancelled = outcomes.iter().filter(|o| o.as_ref().is_err_and(|e| e.is_cancelled())).count();
        println!("{cancelled} workers cancelled while waiting in get(); {} items left", queue.qsize());
        anyhow::Ok(())
    })?;
    Ok(())
}
