//! The `shakedown` binary: build the runtime, parse arguments, hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The sandbox launcher runs before the async runtime exists: Landlock restricts the
    // calling thread, and exec must replace a single-threaded process.
    let mut args = std::env::args_os();
    if args
        .nth(1)
        .is_some_and(|a| a == shakedown_cli::SANDBOX_EXEC)
    {
        let code = shakedown_sandbox::confine::launcher_main(args);
        return ExitCode::from(u8::try_from(code).unwrap_or(2));
    }
    let cli = shakedown_cli::Cli::parse();
    shakedown_cli::init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(shakedown_cli::run(cli))
}
