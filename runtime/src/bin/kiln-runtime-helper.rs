//! A stand-alone runtime helper: runs the container init when started with the init marker,
//! otherwise exits 2. Used by the integration tests (`Runtime::with_helper`).

fn main() {
    kiln_runtime::maybe_run_init();
    eprintln!(
        "kiln-runtime-helper: only runs as `kiln-runtime-helper {} SPEC_FD STATUS_FD`",
        kiln_runtime::RUNTIME_INIT_ARG
    );
    std::process::exit(2);
}
