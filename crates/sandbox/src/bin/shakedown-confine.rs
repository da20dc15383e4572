//! `shakedown-confine --write DIR... -- CMD ARGS...`: confines itself with Landlock so that
//! only the `--write` directories are writable, then execs the command. Started by the sandbox
//! in front of a confined agent; see `docs/sandbox.md`.

fn main() {
    let code = shakedown_sandbox::confine::launcher_main(std::env::args_os().skip(1));
    std::process::exit(code);
}
