//! Process spawning: `child_process`, `subprocess`, `os.system` and their kin.

use super::syntax::{Call, Facts};
use super::Sink;
use crate::Severity;

pub(super) const SPAWNERS: &[&str] = &[
    "child_process.exec",
    "child_process.execSync",
    "child_process.execFile",
    "child_process.execFileSync",
    "child_process.spawn",
    "child_process.spawnSync",
    "child_process.fork",
    "shelljs.exec",
    "execa",
    "execa.command",
    "cross-spawn",
    "os.system",
    "os.popen",
    "os.startfile",
    "os.posix_spawn",
    "os.posix_spawnp",
    "pty.spawn",
    "commands.getoutput",
    "commands.getstatusoutput",
    "subprocess.run",
    "subprocess.call",
    "subprocess.check_call",
    "subprocess.check_output",
    "subprocess.Popen",
    "subprocess.getoutput",
    "subprocess.getstatusoutput",
    "asyncio.create_subprocess_shell",
    "asyncio.create_subprocess_exec",
];

/// Whether the call starts another program.
pub(super) fn is_spawn(callee: &str) -> bool {
    SPAWNERS.contains(&callee)
        || callee
            .strip_prefix("os.")
            .is_some_and(|f| f.starts_with("exec") || f.starts_with("spawn"))
}

pub(super) fn check(facts: &Facts, sink: &mut Sink<'_>) {
    for call in facts.calls.iter().filter(|c| is_spawn(&c.callee)) {
        sink.add("process-spawn", Severity::Medium, message(call), call.span);
    }
}

fn message(call: &Call) -> String {
    match call.first_str() {
        Some(cmd) => format!(
            "Starts another program with `{}` running `{}`.",
            call.callee,
            cmd.chars().take(80).collect::<String>()
        ),
        None => format!("Starts another program with `{}`.", call.callee),
    }
}
