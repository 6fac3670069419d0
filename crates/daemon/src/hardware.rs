//! The hardware task: the only owner of the [`Device`]. It keeps the link up (reconnecting
//! with capped exponential backoff, forever: a daemon never exits because its device is
//! gone), polls on its own schedule into the [`StatusCache`], and runs commands one at a
//! time between polls. Commands are validated before anything reaches the hardware.

use crate::device::{Device, Error, Outcome};
use crate::status::{StatusBuilder, StatusCache};
use labwire_protocol::Message;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, timeout, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Work for the hardware task; each job carries where its reply goes.
pub enum Job {
    /// A device command: validated, then executed.
    Command(Message, oneshot::Sender<Message>),
    /// Drop the link and connect again now.
    Reconnect(Message, oneshot::Sender<Message>),
}

#[derive(Clone, Debug)]
pub struct HardwareConfig {
    pub poll_interval: Duration,
    /// Upper bound for one connect, poll or command, whatever the driver does.
    pub operation_timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

impl Default for HardwareConfig {
    fn default() -> Self {
        HardwareConfig {
            poll_interval: Duration::from_secs(1),
            operation_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(5),
        }
    }
}

struct HardwareTask<D: Device> {
    device: D,
    status: StatusCache,
    config: HardwareConfig,
    connected: bool,
    backoff: Duration,
    next_connect: Instant,
    next_poll: Instant,
    last_error: Option<String>,
}

/// Run the hardware task until `shutdown` fires or every job sender is gone.
pub async fn run<D: Device>(
    device: D,
    status: StatusCache,
    config: HardwareConfig,
    mut jobs: mpsc::Receiver<Job>,
    shutdown: CancellationToken,
) {
    let now = Instant::now();
    let mut task = HardwareTask {
        device,
        status,
        backoff: config.backoff_initial,
        config,
        connected: false,
        next_connect: now,
        next_poll: now,
        last_error: None,
    };
    loop {
        if !task.connected && Instant::now() >= task.next_connect {
            task.connect().await;
        }
        let wake_at = if task.connected {
            task.next_poll
        } else {
            task.next_connect
        };
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            job = jobs.recv() => match job {
                Some(job) => task.handle(job).await,
                None => break,
            },
            _ = sleep_until(wake_at) => {
                if task.connected {
                    task.poll().await;
                }
            }
        }
    }
    if task.connected {
        task.device.disconnect().await;
    }
}

impl<D: Device> HardwareTask<D> {
    async fn connect(&mut self) {
        let attempt = timeout(self.config.operation_timeout, self.device.connect()).await;
        match attempt.unwrap_or_else(|_| Err(Error::timeout("connecting took too long"))) {
            Ok(()) => {
                info!("hardware connected");
                self.connected = true;
                self.last_error = None;
                self.backoff = self.config.backoff_initial;
                self.next_poll = Instant::now();
            }
            Err(err) => {
                // Log a changed failure once, not every retry.
                if self.last_error.as_deref() != Some(err.message.as_str()) {
                    warn!("hardware not reachable: {}", err.message);
                    self.last_error = Some(err.message);
                }
                self.device.disconnect().await;
                self.next_connect = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(self.config.backoff_max);
            }
        }
    }

    fn link_lost(&mut self, err: &Error) {
        warn!("hardware link lost: {}", err.message);
        self.connected = false;
        self.last_error = Some(err.message.clone());
        self.status.set_connected(false);
        self.next_connect = Instant::now();
    }

    async fn poll(&mut self) {
        self.next_poll = Instant::now() + self.config.poll_interval;
        let mut fresh = StatusBuilder::new();
        let result = timeout(self.config.operation_timeout, self.device.poll(&mut fresh))
            .await
            .unwrap_or_else(|_| Err(Error::timeout("poll took too long")));
        match result {
            Ok(()) => self.status.publish_poll(fresh),
            Err(err) => {
                self.status.count_error();
                if err.breaks_link() {
                    self.device.disconnect().await;
                    self.link_lost(&err);
                } else {
                    warn!("poll failed: {}", err.message);
                }
            }
        }
    }

    async fn handle(&mut self, job: Job) {
        match job {
            Job::Reconnect(request, reply_to) => {
                if self.connected {
                    self.device.disconnect().await;
                    self.connected = false;
                    self.status.set_connected(false);
                }
                self.backoff = self.config.backoff_initial;
                self.connect().await;
                if self.connected {
                    self.poll().await;
                }
                let reply = if self.connected {
                    Message::ok_reply(&request).kwarg("hw_connected", "1")
                } else {
                    Error::not_connected(format!(
                        "reconnect failed: {}",
                        self.last_error.as_deref().unwrap_or("unknown reason")
                    ))
                    .to_reply(&request)
                };
                let _ = reply_to.send(reply);
            }
            Job::Command(request, reply_to) => {
                let reply = match self.execute(&request).await {
                    Ok(outcome) => {
                        let mut reply = Message::ok_reply(&request);
                        reply.kwargs = outcome.kwargs;
                        reply.payload = outcome.payload;
                        reply
                    }
                    Err(err) => err.to_reply(&request),
                };
                // The requester may have gone away; the command ran all the same.
                let _ = reply_to.send(reply);
            }
        }
    }

    async fn execute(&mut self, request: &Message) -> Result<Outcome, Error> {
        let command = self.device.parse_command(request)?;
        let needs_hardware = self.device.needs_hardware(&command);
        if needs_hardware && !self.connected {
            return Err(Error::not_connected(format!(
                "hardware is offline ({})",
                self.last_error.as_deref().unwrap_or("not connected yet")
            )));
        }
        let result = timeout(
            self.config.operation_timeout,
            self.device.execute_outcome(command),
        )
        .await
        .unwrap_or_else(|_| Err(Error::timeout("the hardware did not finish in time")));
        match &result {
            // Show the command's effect at once rather than at the next regular poll.
            Ok(_) if self.connected => self.next_poll = Instant::now(),
            Ok(_) => {}
            Err(err) => {
                self.status.count_error();
                if err.breaks_link() && needs_hardware {
                    self.device.disconnect().await;
                    self.link_lost(err);
                }
            }
        }
        result
    }
}
