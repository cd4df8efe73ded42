#[taskloop::test]
fn not_async() {}

#[taskloop::test]
async fn with_arguments(n: u32) {}

#[taskloop::test(paused = true)]
async fn unknown_option() {}

#[taskloop::test(start_paused = "yes")]
async fn not_a_bool() {}

#[taskloop::test(flavor = "multi_thread", start_paused = true)]
async fn paused_multi_thread() {}

#[taskloop::test(worker_threads = 4, start_paused = true)]
async fn paused_with_workers() {}

#[taskloop::test]
#[test]
async fn two_test_attributes() {}

fn main() {}
