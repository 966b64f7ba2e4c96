//! The stand-in's messages: warnings (a call that would hang, an injected
//! fault, something it cannot run) always go to stderr, prefixed
//! `spindle cuda-emu:`; with `SPINDLE_EMU_LOG=1` it also says what it does.
//! `SPINDLE_EMU_LOG_FILE` appends every message to that file as well.

use std::io::Write as _;
use std::sync::OnceLock;

fn verbose() -> bool {
    static V: OnceLock<bool> = OnceLock::new();
    *V.get_or_init(|| std::env::var("SPINDLE_EMU_LOG").is_ok_and(|v| v == "1"))
}

fn emit(line: &str) {
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("SPINDLE_EMU_LOG_FILE").filter(|p| !p.is_empty()) {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// A message the user must see.
pub(crate) fn warn(msg: impl std::fmt::Display) {
    emit(&format!("spindle cuda-emu: {msg}"));
}

/// A message for `SPINDLE_EMU_LOG=1`; `msg` is only built when it is shown.
pub(crate) fn debug(msg: impl FnOnce() -> String) {
    if verbose() {
        emit(&format!("spindle cuda-emu: {}", msg()));
    }
}
