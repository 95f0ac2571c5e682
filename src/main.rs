use std::process::ExitCode;

fn main() -> ExitCode {
    recording_archiver::cli::main()
}
