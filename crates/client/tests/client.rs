//! `Client` against small servers on loopback TCP.

use futures_util::future::join_all;
use futures_util::{SinkExt, StreamExt};
use labwire_client::{Client, ClientError, ClientOptions};
use labwire_protocol::Message;
use labwire_testkit::{bounded, ClosedPort, FakeDaemon, FramedConn};
use std::collections::HashSet;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::time::Instant;

/// The next request from the client, or None when it hung up.
async fn next_request(conn: &mut FramedConn) -> Option<Message> {
    match conn.next().await? {
        Ok(Ok(message)) => Some(message),
        Ok(Err(bad)) => panic!("server could not read a client line: {bad:?}"),
        Err(err) => panic!("server read failed: {err}"),
    }
}

fn echo_reply(request: &Message) -> Message {
    let mut reply = Message::ok_reply(request);
    reply.kwargs = request.kwargs.clone();
    reply
}

fn options() -> ClientOptions {
    ClientOptions {
        request_timeout: Duration::from_secs(10),
        ..ClientOptions::default()
    }
}

#[tokio::test]
async fn pipelined_requests_from_many_tasks_are_matched_by_tag_out_of_order() {
    const TASKS: usize = 4;
    const PER_TASK: usize = 10;
    const BATCH: usize = 10;
    bounded(async {
        let (tags_tx, mut tags_rx) = mpsc::unbounded_channel();
        let server = FakeDaemon::framed(move |mut conn| {
            let tags = tags_tx.clone();
            async move {
                // Answer each batch backwards, so no reply comes in request order.
                loop {
                    let mut batch = Vec::new();
                    while batch.len() < BATCH {
                        match next_request(&mut conn).await {
                            Some(request) => batch.push(request),
                            None => return,
                        }
                    }
                    for request in batch.iter().rev() {
                        tags.send(request.tag.clone()).unwrap();
                        conn.send(echo_reply(request)).await.unwrap();
                    }
                }
            }
        });
        let addr = server.addr;
        let client = Client::connect(addr, options()).await.unwrap();
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let client = client.clone();
                tokio::spawn(async move {
                    let requests = (0..PER_TASK).map(|i| {
                        let n = (task * PER_TASK + i).to_string();
                        let own_tag = (i % 2 == 0).then(|| format!("mine-{n}"));
                        let request = Message::new("echo")
                            .tagged(own_tag.clone())
                            .kwarg("n", n.clone());
                        let client = client.clone();
                        async move { (n, own_tag, client.request(request).await) }
                    });
                    for (n, own_tag, reply) in join_all(requests).await {
                        let reply = reply.unwrap();
                        assert_eq!(reply.name, "ok");
                        assert_eq!(reply.args, ["echo"]);
                        assert_eq!(reply.get("n"), Some(n.as_str()));
                        assert_eq!(reply.tag, own_tag, "original tag restored");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let mut wire_tags = HashSet::new();
        for _ in 0..TASKS * PER_TASK {
            let tag = tags_rx
                .recv()
                .await
                .unwrap()
                .expect("every request is tagged");
            assert!(
                !tag.starts_with("mine"),
                "caller's tag must not go on the wire"
            );
            wire_tags.insert(tag);
        }
        assert_eq!(wire_tags.len(), TASKS * PER_TASK, "tags are unique");
        assert_eq!(client.pending_requests(), 0);
    })
    .await;
}

#[tokio::test]
async fn timeout_and_cancellation_leave_nothing_pending_and_late_replies_are_dropped() {
    bounded(async {
        let server = FakeDaemon::framed(|mut conn| async move {
            while let Some(request) = next_request(&mut conn).await {
                if request.name == "slow" {
                    tokio::time::sleep(Duration::from_millis(600)).await;
                }
                conn.send(Message::ok_reply(&request)).await.unwrap();
            }
        });
        let addr = server.addr;
        let client = Client::connect(
            addr,
            ClientOptions {
                request_timeout: Duration::from_millis(200),
                ..ClientOptions::default()
            },
        )
        .await
        .unwrap();
        let mut events = client.take_events().unwrap();

        let started = Instant::now();
        let outcome = client.call("slow").await;
        assert!(matches!(outcome, Err(ClientError::Timeout)), "{outcome:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(client.pending_requests(), 0);

        // Let the late `ok slow` arrive: it matches no waiting request and must be dropped,
        // neither handed to the next request nor queued as an event.
        tokio::time::sleep(Duration::from_millis(800)).await;
        let reply = client.call("fast").await.unwrap();
        assert_eq!(reply.args, ["fast"]);

        // A caller that gives up (drops the future) must not leave its route behind.
        let gave_up = tokio::time::timeout(Duration::from_millis(20), client.call("slow")).await;
        assert!(gave_up.is_err());
        assert_eq!(client.pending_requests(), 0);

        assert!(client.is_connected());
        assert_eq!(events.try_recv().unwrap_err(), TryRecvError::Empty);
    })
    .await;
}

#[tokio::test]
async fn dropped_connection_fails_pending_requests_and_later_ones_fast() {
    bounded(async {
        let server = FakeDaemon::framed(|mut conn| async move {
            for _ in 0..3 {
                next_request(&mut conn).await;
            }
            // Returning drops the connection with three requests unanswered.
        });
        let addr = server.addr;
        let client = Client::connect(
            addr,
            ClientOptions {
                request_timeout: Duration::from_secs(60),
                ..ClientOptions::default()
            },
        )
        .await
        .unwrap();
        let mut events = client.take_events().unwrap();
        let started = Instant::now();
        let outcomes = join_all((0..3).map(|_| client.call("get_status"))).await;
        for outcome in outcomes {
            assert!(matches!(outcome, Err(ClientError::Closed)), "{outcome:?}");
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(!client.is_connected());
        assert_eq!(client.pending_requests(), 0);

        let started = Instant::now();
        assert!(matches!(
            client.call("get_id").await,
            Err(ClientError::Closed)
        ));
        assert!(matches!(
            client.request_untagged(Message::new("get_id")).await,
            Err(ClientError::Closed)
        ));
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(
            events.recv().await.is_none(),
            "event stream ends with the connection"
        );
    })
    .await;
}

#[tokio::test]
async fn close_fails_waiting_requests_and_releases_the_socket() {
    bounded(async {
        let (ended_tx, mut ended) = mpsc::unbounded_channel();
        let server = FakeDaemon::framed(move |mut conn| {
            let ended = ended_tx.clone();
            async move {
                while next_request(&mut conn).await.is_some() {}
                ended.send(()).unwrap();
            }
        });
        let addr = server.addr;
        let client = Client::connect(addr, options()).await.unwrap();
        let waiting = tokio::spawn({
            let client = client.clone();
            async move { client.call("never_answered").await }
        });
        while client.pending_requests() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        client.close().await;
        assert!(matches!(waiting.await.unwrap(), Err(ClientError::Closed)));
        assert!(!client.is_connected());
        ended.recv().await.expect("server saw the connection end");
    })
    .await;
}

#[tokio::test]
async fn events_are_delivered_and_bounded() {
    const CAPACITY: usize = 8;
    bounded(async {
        let server = FakeDaemon::framed(|mut conn| async move {
            while let Some(request) = next_request(&mut conn).await {
                let count: usize = request.get("count").unwrap_or("0").parse().unwrap();
                for n in 0..count {
                    conn.feed(Message::new("update").kwarg("n", n.to_string()))
                        .await
                        .unwrap();
                }
                conn.feed(
                    Message::new("log")
                        .kwarg("level", "info")
                        .kwarg("message", "flooded"),
                )
                .await
                .unwrap();
                // Untagged and not an event name, with no untagged request waiting.
                conn.feed(Message::new("notice").arg("hello"))
                    .await
                    .unwrap();
                conn.send(Message::ok_reply(&request)).await.unwrap();
            }
        });
        let addr = server.addr;
        let client = Client::connect(
            addr,
            ClientOptions {
                event_capacity: CAPACITY,
                ..options()
            },
        )
        .await
        .unwrap();
        let mut events = client.take_events().expect("first take");
        assert!(client.take_events().is_none(), "events can be taken once");

        // The reply comes after the flood on the wire, so once it is here every event has
        // been routed; nobody read the queue meanwhile.
        let reply = client.call("flood count=50").await.unwrap();
        assert_eq!(reply.args, ["flood"]);
        let mut got = Vec::new();
        while let Ok(event) = events.try_recv() {
            got.push(event);
        }
        let expected: Vec<_> = (0..CAPACITY)
            .map(|n| Message::new("update").kwarg("n", n.to_string()))
            .collect();
        assert_eq!(got, expected, "oldest events kept, newer ones dropped");
        assert_eq!(client.events_dropped(), 50 + 2 - CAPACITY as u64);

        // With a consumer keeping up, everything arrives, including non-event untagged lines.
        client.call("flood count=2").await.unwrap();
        let mut names = Vec::new();
        for _ in 0..4 {
            names.push(events.recv().await.unwrap().name);
        }
        assert_eq!(names, ["update", "update", "log", "notice"]);
        assert_eq!(client.events_dropped(), 50 + 2 - CAPACITY as u64);
    })
    .await;
}

#[tokio::test]
async fn legacy_untagged_mode_skips_events_and_stray_lines() {
    bounded(async {
        // A CCDLab-era daemon: answers only commands it knows, never echoes tags, and
        // chatters between replies.
        let server = FakeDaemon::framed(|mut conn| async move {
            while let Some(request) = next_request(&mut conn).await {
                let tag_seen = if request.tag.is_some() { "1" } else { "0" };
                let reply = match request.name.as_str() {
                    "get_id" => Message::new("id").kwarg("name", "old"),
                    "get_status" => Message::new("status").kwarg("a", "1"),
                    _ => continue,
                };
                conn.send(Message::new("log").kwarg("message", "polled"))
                    .await
                    .unwrap();
                conn.send(Message::new("stray").tagged(Some("zz".into())))
                    .await
                    .unwrap();
                conn.get_mut()
                    .write_all(b"\"unclosed quote\nupdate x=1\n")
                    .await
                    .unwrap();
                conn.send(reply.kwarg("tag_seen", tag_seen)).await.unwrap();
            }
        });
        let addr = server.addr;
        let client = Client::connect(
            addr,
            ClientOptions {
                request_timeout: Duration::from_secs(1),
                ..ClientOptions::default()
            },
        )
        .await
        .unwrap();
        let mut events = client.take_events().unwrap();

        let reply = client
            .request_untagged(Message::new("get_id").tagged(Some("orig".into())))
            .await
            .unwrap();
        assert_eq!(reply.name, "id");
        assert_eq!(reply.get("name"), Some("old"));
        assert_eq!(reply.get("tag_seen"), Some("0"), "sent without a tag");
        assert_eq!(reply.tag.as_deref(), Some("orig"));

        // Concurrent callers take turns and each gets its own reply.
        let calls = (0..6).map(|i| {
            let client = client.clone();
            let command = if i % 2 == 0 { "get_id" } else { "get_status" };
            async move {
                (
                    command,
                    client.request_untagged(Message::new(command)).await,
                )
            }
        });
        for (command, reply) in join_all(calls).await {
            let expected = if command == "get_id" { "id" } else { "status" };
            assert_eq!(reply.unwrap().name, expected);
        }

        // A legacy daemon never answers an unknown command: that is a timeout, and the
        // connection stays usable.
        let outcome = client.request_untagged(Message::new("frobnicate")).await;
        assert!(matches!(outcome, Err(ClientError::Timeout)), "{outcome:?}");
        assert_eq!(client.pending_requests(), 0);
        let reply = client
            .request_untagged(Message::new("get_status"))
            .await
            .unwrap();
        assert_eq!(reply.get("a"), Some("1"));

        let first = events.try_recv().unwrap();
        let second = events.try_recv().unwrap();
        assert_eq!(
            (first.name.as_str(), second.name.as_str()),
            ("log", "update")
        );
    })
    .await;
}

#[tokio::test]
async fn binary_payloads_round_trip_both_ways() {
    bounded(async {
        let server = FakeDaemon::framed(|mut conn| async move {
            while let Some(request) = next_request(&mut conn).await {
                let mut reply = Message::ok_reply(&request);
                match request.name.as_str() {
                    "put" => {
                        let payload = request.payload.clone().expect("payload arrived");
                        reply = reply
                            .kwarg("received", payload.len().to_string())
                            .with_payload(payload);
                    }
                    "get" => {
                        let size: usize = request.get("size").unwrap().parse().unwrap();
                        reply = reply.with_payload(vec![b'\n'; size]);
                    }
                    _ => {}
                }
                conn.send(reply).await.unwrap();
            }
        });
        let addr = server.addr;
        let client = Client::connect(
            addr,
            ClientOptions {
                max_payload: 1 << 20,
                ..options()
            },
        )
        .await
        .unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let reply = client
            .request(Message::new("put").with_payload(data.clone()))
            .await
            .unwrap();
        assert_eq!(reply.get("received"), Some("300000"));
        assert_eq!(reply.payload.as_deref(), Some(&data[..]));
        // Line mode resumed after the payload, on both sides.
        let reply = client.call("ping").await.unwrap();
        assert_eq!(reply.args, ["ping"]);
        assert_eq!(reply.payload, None);

        // A payload above our limit cannot be skipped safely: the request fails and the
        // connection ends.
        let outcome = client.call(&format!("get size={}", (1 << 20) + 1)).await;
        assert!(
            matches!(outcome, Err(ClientError::Protocol(_))),
            "{outcome:?}"
        );
        client.closed().await;
        assert!(matches!(
            client.call("ping").await,
            Err(ClientError::Closed)
        ));
    })
    .await;
}

#[tokio::test]
async fn unparsable_or_invalid_requests_are_refused_and_nothing_is_sent() {
    bounded(async {
        let (seen_tx, mut seen) = mpsc::unbounded_channel();
        let server = FakeDaemon::framed(move |mut conn| {
            let seen = seen_tx.clone();
            async move {
                while let Some(request) = next_request(&mut conn).await {
                    seen.send(request.name.clone()).unwrap();
                    conn.send(Message::ok_reply(&request)).await.unwrap();
                }
            }
        });
        let addr = server.addr;
        let client = Client::connect(addr, options()).await.unwrap();
        let outcome = client.call("set name=\"unclosed").await;
        assert!(
            matches!(outcome, Err(ClientError::Protocol(_))),
            "{outcome:?}"
        );
        for bad in [
            Message::new("two words"),
            Message::new("set").kwarg("a b", "1"),
        ] {
            let outcome = client.request(bad.clone()).await;
            assert!(
                matches!(outcome, Err(ClientError::Protocol(_))),
                "{outcome:?}"
            );
            let outcome = client.request_untagged(bad).await;
            assert!(
                matches!(outcome, Err(ClientError::Protocol(_))),
                "{outcome:?}"
            );
        }
        let reply = client.call("@mine get_id").await.unwrap();
        assert_eq!(reply.tag.as_deref(), Some("mine"));
        assert_eq!(seen.recv().await.as_deref(), Some("get_id"));
        assert_eq!(client.peer_addr(), addr);
    })
    .await;
}

#[tokio::test]
async fn connect_to_a_closed_port_is_an_io_error() {
    bounded(async {
        let closed = ClosedPort::new();
        let addr = closed.addr;
        let outcome = Client::connect(addr, options()).await;
        assert!(matches!(outcome, Err(ClientError::Io(_))));
    })
    .await;
}

/// Regression (issue 8.10): a legacy daemon's status variable `bytes` was read as a
/// payload length, so the variable vanished and the next bytes were taken for payload.
#[tokio::test]
async fn a_legacy_daemons_bytes_variable_is_kept() {
    bounded(async {
        let server = FakeDaemon::framed(|mut conn| async move {
            while let Some(request) = next_request(&mut conn).await {
                if request.name == "get_status" {
                    conn.get_mut()
                        .write_all(b"status bytes=4 rate=3\n")
                        .await
                        .unwrap();
                }
            }
        });
        let addr = server.addr;
        let client = Client::connect(addr, options()).await.unwrap();
        for _ in 0..2 {
            let status = client
                .request_untagged(Message::new("get_status"))
                .await
                .unwrap();
            assert_eq!(status.get("bytes"), Some("4"));
            assert_eq!(status.get("rate"), Some("3"));
            assert!(status.payload.is_none());
        }
    })
    .await;
}
