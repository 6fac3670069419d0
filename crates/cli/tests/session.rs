//! The interactive session through a pseudo-terminal, typed as a person types: Tab to
//! complete, arrows for the history, Ctrl-D to leave; against the real monitor and
//! simulated daemons.

mod lab;

use lab::Lab;
use rexpect::process::WaitStatus;
use rexpect::session::{spawn_command, PtySession};

const GREEN_OK: &str = "\x1b[32mok ";
const RED_ERROR: &str = "\x1b[1;31merror ";
const UP: &str = "\x1b[A";

/// Keys as a person presses them: written and flushed at once (rexpect's `send` waits
/// for a newline before it flushes).
fn type_keys(session: &mut PtySession, keys: &str) {
    session.send(keys).expect("type into the pty");
    session.flush().expect("flush the pty");
}

fn session(lab: &Lab) -> PtySession {
    let mut command = lab.labwire();
    command.env("TERM", "xterm-256color");
    let mut session = spawn_command(command, Some(15_000)).expect("start labwire in a pty");
    session
        .exp_string("Tab completes")
        .expect("the session's greeting");
    session.exp_string("monitor> ").expect("the prompt");
    session
}

fn leave(mut session: PtySession) {
    session.send_control('d').expect("Ctrl-D");
    session.exp_eof().expect("the session ends on Ctrl-D");
    match session.process_mut().wait() {
        Ok(WaitStatus::Exited(_, code)) => assert_eq!(code, 0, "exit status after Ctrl-D"),
        other => panic!("labwire did not exit cleanly: {other:?}"),
    }
}

#[test]
fn completion_colours_and_history_across_sessions() {
    let lab = Lab::start();
    let mut s = session(&lab);

    // A command name: "cli" alone would be answered unknown_command.
    type_keys(&mut s, "cli\t");
    type_keys(&mut s, "\r");
    s.exp_regex(r"clients gauge1=1 psu1=1")
        .expect("clients, completed from help");

    // A client, its command, a key and a value; the ok reply comes back green.
    type_keys(&mut s, "send g\t");
    type_keys(&mut s, "set_u\t");
    type_keys(&mut s, "unit=t\t");
    type_keys(&mut s, "\r");
    s.exp_string(&format!("{GREEN_OK}set_unit unit=torr"))
        .expect("send gauge1 set_unit unit=torr, completed word by word");

    type_keys(&mut s, "send p\tout\tch=1 st\tof\t\r");
    s.exp_string(&format!("{GREEN_OK}output ch=1 state=off"))
        .expect("send psu1 output ch=1 state=off, completed");

    // An error reply is red.
    s.send_line("send psu1 set_voltage ch=1 value=99").unwrap();
    s.exp_string(&format!("{RED_ERROR}set_voltage code=out_of_range"))
        .expect("a red error reply");

    // A variable of the monitor's status, for wait.
    type_keys(&mut s, "wait psu1.ch1_voltage_s\t");
    type_keys(&mut s, ">=0 timeout=5\r");
    s.exp_string(&format!("{GREEN_OK}wait psu1.ch1_voltage_set=0"))
        .expect("wait on a completed variable");

    // Up recalls the line before.
    s.send_line("send gauge1 set_unit unit=pa").unwrap();
    s.exp_string(&format!("{GREEN_OK}set_unit unit=pa"))
        .unwrap();
    s.send_line("send gauge1 set_unit unit=mbar").unwrap();
    s.exp_string(&format!("{GREEN_OK}set_unit unit=mbar"))
        .unwrap();
    type_keys(&mut s, UP);
    type_keys(&mut s, UP);
    type_keys(&mut s, "\r");
    s.exp_string(&format!("{GREEN_OK}set_unit unit=pa"))
        .expect("two lines up is unit=pa");

    // exit asks first.
    s.send_line("exit").unwrap();
    s.exp_string("Stop it? [y/N]").unwrap();
    s.send_line("n").unwrap();
    s.exp_string("not sent").unwrap();

    // A line that cannot be parsed is answered as a server would, without sending it.
    s.send_line("send gauge1 set_unit \"torr").unwrap();
    s.exp_string(&format!("{RED_ERROR}code=parse")).unwrap();
    leave(s);

    let history = std::fs::read_to_string(lab.dir.path().join("labwire/history"))
        .expect("the history file under $XDG_STATE_HOME/labwire");
    assert!(
        history.contains("send gauge1 set_unit unit=torr"),
        "{history}"
    );

    // A new session remembers the last line of the one before.
    let mut s = session(&lab);
    type_keys(&mut s, UP);
    type_keys(&mut s, "\r");
    s.exp_string(&format!("{RED_ERROR}code=parse"))
        .expect("the last line of the previous session, recalled with Up");
    leave(s);
}

#[test]
fn subscribed_lines_appear_while_typing() {
    let lab = Lab::start();
    let mut s = session(&lab);
    s.send_line("subscribe log").unwrap();
    s.exp_string(&format!("{GREEN_OK}subscribe")).unwrap();
    let status = lab
        .labwire()
        .args(["log", "warning", "pump 2 makes a noise"])
        .status()
        .expect("run labwire log");
    assert!(status.success());
    s.exp_string("log level=warning source=script message=\"pump 2 makes a noise\"")
        .expect("the log line, printed above the prompt");
    s.send_line("help").unwrap();
    s.exp_regex(r"COMMAND\s+ARGUMENTS")
        .expect("help as a table");
    s.exp_regex(r"wait\s+<client>\.<key><op><number>").unwrap();
    leave(s);
}

#[test]
fn watch_draws_a_live_table_in_a_terminal() {
    let lab = Lab::start();
    let mut command = lab.labwire();
    command
        .env("TERM", "xterm-256color")
        .args(["watch", "gauge1"]);
    let mut s = spawn_command(command, Some(15_000)).expect("start labwire watch");
    s.exp_regex(r"VARIABLE\s+VALUE\s+CHANGED")
        .expect("the table header");
    s.exp_string("gauge1.pressure")
        .expect("the gauge's pressure");
    // The simulated pressure changes at every poll: the table is redrawn with it.
    s.exp_regex(r"gauge1.pressure\s+\S+\s+\d+ s ago")
        .expect("a changed value");
    s.send_control('c').expect("Ctrl-C");
    s.exp_eof().expect("watch ends on Ctrl-C");
}
