//! A status too long for one line, read page by page (`get_status page=<n>`, see
//! `labwire_protocol::paging`): the pages joined into one message.

use crate::client::Client;
use crate::error::{ClientError, Result};
use labwire_protocol::{next_page, Message, NEXT_KEY, PAGE_KEY};

/// Pages read for one status at most (32 MiB of entries), so a server that keeps
/// answering `next=` can neither keep the caller forever nor fill its memory.
pub const MAX_PAGES: usize = 1000;

impl Client {
    /// `get_status page=0`, then `page=<next>` until a page has no `next=`: the whole
    /// status as one message (its kwargs can pass the line limit, as a monitor's of many
    /// clients does), the header keys as the first page has them (later pages carry entries only), without `page=` and
    /// `next=`. A server that knows no paging answers the whole status at the first
    /// request, which is taken as it is; an `error` reply is returned as it is.
    pub async fn paged_status(&self) -> Result<Message> {
        let mut page = 0;
        let mut whole: Option<Message> = None;
        for _ in 0..MAX_PAGES {
            let (reply, next) = self.status_page(page).await?;
            if reply.is_error() {
                return Ok(reply);
            }
            match &mut whole {
                None => whole = Some(reply),
                // Later pages hold entries only: the header comes with the first.
                Some(whole) => whole.kwargs.extend(reply.kwargs),
            }
            match next {
                Some(next) => page = next,
                None => return Ok(whole.unwrap_or_else(|| Message::new("status"))),
            }
        }
        Err(ClientError::Protocol(format!(
            "the status has more than {MAX_PAGES} pages"
        )))
    }

    /// One page: `get_status page=<page>` answered without its `page=` and `next=`, and
    /// the page to ask for next (`None` on the last page, or on an `error` reply). A
    /// `next=` that does not move forward is a protocol error, so a caller that goes on
    /// until `None` always ends.
    pub async fn status_page(&self, page: usize) -> Result<(Message, Option<usize>)> {
        let request = Message::new("get_status").kwarg(PAGE_KEY, page.to_string());
        let mut reply = self.request(request).await?;
        let next = next_page(&reply);
        reply.remove(PAGE_KEY);
        reply.remove(NEXT_KEY);
        match next {
            Some(next) if next <= page => Err(ClientError::Protocol(format!(
                "page {page} of the status says the next is {next}"
            ))),
            next => Ok((reply, next)),
        }
    }
}
