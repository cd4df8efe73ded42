#[taskloop::main]
fn not_async() {}

#[taskloop::main]
async fn with_arguments(port: u16) {}

#[taskloop::main]
async fn generic<T>() {}

#[taskloop::main(flavour = "multi_thread")]
async fn unknown_option() {}

#[taskloop::main(flavor = "single_thread")]
async fn unknown_flavor() {}

#[taskloop::main(worker_threads = 0)]
async fn no_workers() {}

#[taskloop::main(flavor = "current_thread", worker_threads = 2)]
async fn workers_on_one_thread() {}

#[taskloop::main(start_paused = true)]
async fn paused_main() {}

#[taskloop::main(flavor = "multi_thread", flavor = "current_thread")]
async fn flavor_twice() {}

fn main() {}
