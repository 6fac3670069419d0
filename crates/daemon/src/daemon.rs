//! A running device daemon: its [`DeviceService`] served over TCP, and its hardware task.

use crate::device::Device;
use crate::server::{serve, ServerConfig};
use crate::service::DeviceService;
use crate::status::StatusCache;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

/// A running daemon: its server, connections and hardware task.
pub struct Daemon {
    local_addr: SocketAddr,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    status: StatusCache,
}

impl Daemon {
    /// Start serving `device` on `listener`; returns at once.
    pub fn start<D: Device>(listener: TcpListener, config: ServerConfig, device: D) -> Daemon {
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let service =
            DeviceService::start(device, config.hardware.clone(), shutdown.clone(), &tracker);
        let status = service.status().clone();
        let local_addr = serve(listener, config, service, shutdown.clone(), &tracker);
        Daemon {
            local_addr,
            shutdown,
            tracker,
            status,
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Cancelling this token stops the daemon (as `exit` does).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub fn status(&self) -> &StatusCache {
        &self.status
    }

    /// Wait until the daemon is told to stop, then for its tasks to finish (bounded).
    pub async fn wait(self) {
        self.shutdown.cancelled().await;
        self.tracker.close();
        if tokio::time::timeout(Duration::from_secs(3), self.tracker.wait())
            .await
            .is_err()
        {
            warn!("some tasks did not stop within 3 s");
        }
    }
}
