//! What relaying through a monitor costs: the same command sent directly to a daemon and
//! as `send <client> <command>` to a monitor, ping-pong on one connection each. Batches
//! of the two alternate, so both see the same machine noise, and the difference of their
//! medians is the relay's cost.

use crate::load;
use crate::stats::Histogram;
use crate::{shorten, Error};
use labwire_protocol::{format_number, parse_line, Message, PAYLOAD_KEY};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct RelaySpec {
    pub monitor: SocketAddr,
    pub client: String,
    pub direct: SocketAddr,
    /// The command, parsed (no payload).
    pub command: Message,
    /// Measured requests per path.
    pub requests: u64,
    /// Upper bound on the measured period.
    pub duration: Duration,
    /// Requests in one batch before switching paths.
    pub batch: u64,
}

#[derive(Debug)]
pub struct RelayReport {
    pub direct: Histogram,
    pub relayed: Histogram,
}

impl RelayReport {
    /// Milliseconds the relay adds to the median round trip.
    pub fn added_ms(&self) -> f64 {
        ms(self.relayed.quantile(0.5)) - ms(self.direct.quantile(0.5))
    }

    /// The relayed median over the direct one.
    pub fn p50_ratio(&self) -> f64 {
        self.relayed.quantile(0.5).as_secs_f64() / self.direct.quantile(0.5).as_secs_f64().max(1e-9)
    }

    /// `key=value` pairs for a `result` line, each key prefixed with `prefix`.
    pub fn kwargs(&self, prefix: &str) -> Vec<(String, String)> {
        let figures = [
            ("added_ms", rounded_ms(self.added_ms())),
            ("direct_p50_ms", rounded_ms(ms(self.direct.quantile(0.5)))),
            ("relayed_p50_ms", rounded_ms(ms(self.relayed.quantile(0.5)))),
            ("direct_p99_ms", rounded_ms(ms(self.direct.quantile(0.99)))),
            (
                "relayed_p99_ms",
                rounded_ms(ms(self.relayed.quantile(0.99))),
            ),
            ("p50_ratio", crate::ratio(self.p50_ratio())),
            ("requests", self.relayed.count().to_string()),
        ];
        figures
            .into_iter()
            .map(|(key, value)| (format!("{prefix}{key}"), value))
            .collect()
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Milliseconds to the microsecond.
fn rounded_ms(value: f64) -> String {
    format_number((value * 1e3).round() / 1e3)
}

/// `send <client> <command ...>` carrying the command's arguments and tag unchanged.
fn relayed(client: &str, command: &Message) -> Message {
    let mut send = Message::new("send").tagged(command.tag.clone());
    send.args.push(client.to_string());
    send.args.push(command.name.clone());
    send.args.extend(command.args.iter().cloned());
    send.kwargs = command.kwargs.clone();
    send
}

fn wire(message: &Message) -> Vec<u8> {
    let mut line = message.to_line().into_bytes();
    line.push(b'\n');
    line
}

/// Probes both paths, then alternates batches until `requests` per path or the duration.
pub async fn measure(spec: &RelaySpec) -> Result<RelayReport, Error> {
    if spec.command.get(PAYLOAD_KEY).is_some() {
        return Err("the relayed command cannot carry a binary payload".into());
    }
    let direct_line = wire(&spec.command);
    let relayed_line = wire(&relayed(&spec.client, &spec.command));
    let direct_reply = first_reply("direct", spec.direct, &direct_line).await?;
    let relayed_reply = first_reply("relayed", spec.monitor, &relayed_line).await?;
    if relayed_reply.is_error() && relayed_reply.args.first().map(String::as_str) == Some("send") {
        return Err(format!(
            "the monitor refuses to relay: {}",
            shorten(&relayed_reply.to_line(), 200)
        )
        .into());
    }
    if direct_reply.is_error() || relayed_reply.is_error() {
        println!("warning: the command fails at the daemon; measuring the error replies anyway");
    }

    let direct = load::connect(spec.direct).await?;
    let monitor = load::connect(spec.monitor).await?;
    // One batch each to warm caches and connections; not counted.
    load::batch(&direct, &direct_line, spec.batch).await?;
    load::batch(&monitor, &relayed_line, spec.batch).await?;

    let mut report = RelayReport {
        direct: Histogram::default(),
        relayed: Histogram::default(),
    };
    let deadline = Instant::now() + spec.duration;
    while report.relayed.count() < spec.requests && Instant::now() < deadline {
        let count = spec.batch.min(spec.requests - report.relayed.count());
        let batch = load::batch(&direct, &direct_line, count)
            .await
            .map_err(|err| format!("direct {}: {err}", spec.direct))?;
        report.direct.merge(&batch);
        let batch = load::batch(&monitor, &relayed_line, count)
            .await
            .map_err(|err| format!("monitor {}: {err}", spec.monitor))?;
        report.relayed.merge(&batch);
    }
    Ok(report)
}

async fn first_reply(label: &str, addr: SocketAddr, line: &[u8]) -> Result<Message, Error> {
    let reply = load::probe(addr, line)
        .await
        .map_err(|err| format!("{label} {addr}: {err}"))?;
    println!(
        "{label} {addr}: {} -> {}",
        String::from_utf8_lossy(line).trim_end(),
        shorten(&reply, 100)
    );
    let message =
        parse_line(&reply).map_err(|err| format!("{label} {addr}: unreadable reply: {err}"))?;
    if message.get(PAYLOAD_KEY).is_some() {
        return Err(format!("{label} replies carry binary payloads").into());
    }
    Ok(message)
}

/// The human-readable lines of a report.
pub fn print(report: &RelayReport) {
    for (label, latency) in [("direct", &report.direct), ("relayed", &report.relayed)] {
        println!(
            "{label}: {} requests; p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            latency.count(),
            ms(latency.quantile(0.5)),
            ms(latency.quantile(0.99)),
            ms(latency.max()),
        );
    }
    println!(
        "relay adds {:.3} ms to the median round trip (relayed/direct {:.2})",
        report.added_ms(),
        report.p50_ratio()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relayed_line_keeps_arguments_quoting_and_tag() {
        let command = parse_line("@t1 set_label text=\"a b\" 3").unwrap();
        assert_eq!(
            relayed("fleet0", &command).to_line(),
            "@t1 send fleet0 set_label 3 text=\"a b\""
        );
        let plain = parse_line("get_status").unwrap();
        assert_eq!(relayed("psu1", &plain).to_line(), "send psu1 get_status");
    }

    #[tokio::test]
    async fn measures_both_paths_against_an_echo_server() {
        // An echo server answers every line with itself: a stand-in for both a daemon
        // and a monitor, enough to check the batching and counting.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(crate::echo::echo(stream));
            }
        });
        let spec = RelaySpec {
            monitor: addr,
            client: "fleet0".into(),
            direct: addr,
            command: parse_line("get_status").unwrap(),
            requests: 250,
            duration: Duration::from_secs(10),
            batch: 100,
        };
        let report = measure(&spec).await.unwrap();
        assert_eq!(report.direct.count(), 250);
        assert_eq!(report.relayed.count(), 250);
        let keys: Vec<String> = report.kwargs("relay_").into_iter().map(|kv| kv.0).collect();
        assert_eq!(keys[0], "relay_added_ms");
        assert_eq!(keys.last().map(String::as_str), Some("relay_requests"));
    }
}
