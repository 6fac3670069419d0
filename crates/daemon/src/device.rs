//! The contract between the framework and a device implementation.

use crate::status::StatusBuilder;
use bytes::Bytes;
use labwire_protocol::{ErrorCode, Message};
use std::fmt;
use std::future::Future;

/// Result kwargs of a successful command (`ok <command> key=value ...`).
pub type Kwargs = Vec<(String, String)>;

/// What a successful command answers: the `ok` reply's kwargs and, for a command that
/// returns data (a camera's frame), a binary payload sent after the line (`bytes=N`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub kwargs: Kwargs,
    pub payload: Option<Bytes>,
}

impl From<Kwargs> for Outcome {
    fn from(kwargs: Kwargs) -> Self {
        Outcome {
            kwargs,
            payload: None,
        }
    }
}

/// A device command and the synopsis `help` shows for it.
#[derive(Clone, Copy, Debug)]
pub struct CommandSpec {
    pub name: &'static str,
    pub synopsis: &'static str,
}

/// A failure answered as `error <command> code=<code> message="..."`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }
    pub fn bad_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::BadArgument, message)
    }
    pub fn missing_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::MissingArgument, message)
    }
    pub fn out_of_range(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::OutOfRange, message)
    }
    pub fn not_connected(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::NotConnected, message)
    }
    pub fn timeout(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::Timeout, message)
    }
    pub fn device_error(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::DeviceError, message)
    }

    /// The hardware link can no longer be trusted: drop it and reconnect.
    pub fn breaks_link(&self) -> bool {
        matches!(self.code, ErrorCode::NotConnected | ErrorCode::Timeout)
    }

    pub fn to_reply(&self, request: &Message) -> Message {
        Message::error_reply(
            request.tag.clone(),
            Some(&request.name),
            self.code,
            self.message.clone(),
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

/// A device behind a daemon. The framework owns it in one task, so methods take
/// `&mut self` and never run concurrently: a hardware link sees one exchange at a time.
pub trait Device: Send + 'static {
    /// A request validated into something the device can execute.
    type Command: Send + 'static;

    /// `type=` in the `id` reply, e.g. `gauge`.
    fn kind(&self) -> &'static str;

    /// The device's own commands, for `help` and for routing.
    fn commands(&self) -> &'static [CommandSpec];

    /// Validate a request (one of `commands()`) without touching the hardware. Every
    /// argument error is found here, so an invalid request never changes device state.
    fn parse_command(&self, request: &Message) -> Result<Self::Command, Error>;

    /// Whether executing `command` needs the hardware link (default: yes).
    fn needs_hardware(&self, _command: &Self::Command) -> bool {
        true
    }

    /// Open the hardware link and check that the device answers.
    fn connect(&mut self) -> impl Future<Output = Result<(), Error>> + Send;

    /// Close the hardware link (before reconnecting, and at shutdown).
    fn disconnect(&mut self) -> impl Future<Output = ()> + Send;

    /// Read the device's state into `status`. A value that could not be read is
    /// reported with [`StatusBuilder::missing`], never made up.
    fn poll(
        &mut self,
        status: &mut StatusBuilder,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Execute a validated command; the kwargs go into the `ok` reply.
    fn execute(
        &mut self,
        command: Self::Command,
    ) -> impl Future<Output = Result<Kwargs, Error>> + Send;

    /// Execute a validated command that may answer with a payload too. The framework
    /// calls this one; the default is [`Device::execute`] without a payload, so only a
    /// device that returns data overrides it (and then its `execute` is never called).
    fn execute_outcome(
        &mut self,
        command: Self::Command,
    ) -> impl Future<Output = Result<Outcome, Error>> + Send {
        async move { self.execute(command).await.map(Outcome::from) }
    }
}
