//! Bad arguments fail loudly, naming what was wrong.

use taskloop::{BuildError, CpuPool, ThreadPool};

#[test]
#[should_panic(expected = "max_workers must be greater than 0")]
fn thread_pool_new_with_zero_workers_panics_with_the_message() {
    let _pool = ThreadPool::new(0);
}

#[test]
fn the_builder_refuses_zero_workers_and_zero_queue_capacity() {
    let zero_workers = ThreadPool::builder().max_workers(0).build().unwrap_err();
    assert!(matches!(zero_workers, BuildError::ZeroMaxWorkers));
    assert_eq!(zero_workers.to_string(), "max_workers must be greater than 0");
    let zero_capacity = ThreadPool::builder().queue_capacity(0).build().unwrap_err();
    assert!(matches!(zero_capacity, BuildError::ZeroQueueCapacity));
    assert_eq!(zero_capacity.to_string(), "queue_capacity must be greater than 0");
}

#[test]
fn max_workers_defaults_to_cpus_plus_four_at_most_32() {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let pool = ThreadPool::builder().build().expect("default options are valid");
    assert_eq!(pool.max_workers(), (cpus + 4).min(32));
    assert_eq!(pool.num_workers(), 0, "no thread before the first job");
}

#[test]
fn cpu_pool_with_zero_threads_has_rayon_default_of_one_per_cpu() {
    if std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return; // rayon's default follows the variable then.
    }
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(CpuPool::new(0).num_threads(), cpus);
    assert_eq!(CpuPool::new(3).num_threads(), 3);
}
