use std::process::ExitCode;

fn main() -> ExitCode {
    recording_archiver::cli::main()
}

// sled copies tree nodes on every write; glibc malloc was the writer
// thread's top cost under load (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

// Return freed pages at once: multipart parts are large, short-lived
// allocations, and retained dirty pages would make RSS track past parts
// rather than the configured bound.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"dirty_decay_ms:0,muzzy_decay_ms:0\0";
