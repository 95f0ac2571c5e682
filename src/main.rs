use std::process::ExitCode;

fn main() -> ExitCode {
    recording_archiver::cli::main()
}

// sled copies tree nodes on every write; glibc malloc was the writer
// thread's top cost under load (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
