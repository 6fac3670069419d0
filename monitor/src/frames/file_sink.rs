//! A frame's file, written on a blocking thread of its own while the socket goes on being
//! read: the network and the disk overlap instead of taking turns, and the async tasks
//! never wait on a disk. There are as many pieces as the frame needs (up to
//! [`MAX_PIECES`]), so the socket is read at its own pace even where the disk is slower
//! and the camera's connection is free again as soon as the last byte is in; the pieces
//! go round between the two sides and on to the next frame, so they are allocated once
//! and a frame holds at most its own size (or [`MAX_PIECES`] x [`PIECE`]) of memory.

use std::io::{self, Write};
use std::path::PathBuf;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Bytes gathered from the socket before they go to the disk.
pub const PIECE: usize = 4 << 20;
/// Pieces in flight at most (256 MiB): a frame larger than that waits for the disk.
pub const MAX_PIECES: usize = 64;

pub struct FileSink {
    full: Option<mpsc::Sender<Vec<u8>>>,
    empty: mpsc::Receiver<Vec<u8>>,
    writer: Option<JoinHandle<io::Result<()>>>,
    /// Pieces of an earlier file, their memory mapped already.
    spare: Vec<Vec<u8>>,
    not_yet_made: usize,
    piece_len: usize,
}

/// Pieces a file of `expected` bytes is gathered in: one being filled from the socket and
/// one being written at least, the whole file at most.
fn pieces_for(expected: usize, piece_len: usize) -> usize {
    expected.div_ceil(piece_len).clamp(2, MAX_PIECES)
}

impl FileSink {
    /// Create (or truncate) `path` on the writer thread; `expected` bytes will come,
    /// so no piece is larger than the frame needs. `spare` are the pieces an earlier
    /// sink's [`finish`](FileSink::finish) gave back (a fresh piece's pages would each
    /// fault on first use, in the middle of the transfer).
    pub fn create(path: PathBuf, expected: usize, spare: Vec<Vec<u8>>) -> FileSink {
        let piece_len = PIECE.min(expected).max(1);
        let mut spare: Vec<Vec<u8>> = spare
            .into_iter()
            .filter(|piece| piece.capacity() >= piece_len)
            .collect();
        let pieces = pieces_for(expected, piece_len);
        spare.truncate(pieces);
        let (full, mut to_write) = mpsc::channel::<Vec<u8>>(pieces);
        let (written, empty) = mpsc::channel(pieces);
        let writer = tokio::task::spawn_blocking(move || {
            let mut file = std::fs::File::create(&path)?;
            while let Some(mut piece) = to_write.blocking_recv() {
                file.write_all(&piece)?;
                piece.clear();
                // Room for every piece there is, so this never waits; a reader that is
                // gone needs no more pieces.
                let _ = written.try_send(piece);
            }
            Ok(())
        });
        FileSink {
            full: Some(full),
            empty,
            writer: Some(writer),
            not_yet_made: pieces - spare.len(),
            spare,
            piece_len,
        }
    }

    /// An empty piece with room to fill: a spare or new one while fewer than the file's
    /// pieces exist, else the next one the writer has finished with.
    pub async fn piece(&mut self) -> io::Result<Vec<u8>> {
        if let Some(mut piece) = self.spare.pop() {
            piece.clear();
            return Ok(piece);
        }
        if self.not_yet_made > 0 {
            self.not_yet_made -= 1;
            return Ok(Vec::with_capacity(self.piece_len));
        }
        match self.empty.recv().await {
            Some(piece) => Ok(piece),
            None => Err(self.writer_error().await),
        }
    }

    /// Hand a filled piece to the writer.
    pub async fn write(&mut self, piece: Vec<u8>) -> io::Result<()> {
        let sent = match &self.full {
            Some(full) => full.send(piece).await.is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self.writer_error().await)
        }
    }

    /// Wait until every piece is in the file; answers the pieces, for the next file.
    pub async fn finish(mut self) -> io::Result<Vec<Vec<u8>>> {
        self.full = None;
        match self.writer.take() {
            Some(writer) => writer.await.map_err(io::Error::other)??,
            None => return Err(io::Error::other("the file's writer already failed")),
        }
        let mut pieces = std::mem::take(&mut self.spare);
        while let Ok(piece) = self.empty.try_recv() {
            pieces.push(piece);
        }
        Ok(pieces)
    }

    /// Why the writer stopped taking pieces.
    async fn writer_error(&mut self) -> io::Error {
        self.full = None;
        match self.writer.take() {
            Some(writer) => match writer.await {
                Ok(Err(err)) => err,
                Ok(Ok(())) => io::Error::other("the file's writer stopped early"),
                Err(join) => io::Error::other(join),
            },
            None => io::Error::other("the file's writer already failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pieces_reach_the_file_in_order_and_go_round() {
        let dir = std::env::temp_dir().join(format!("labwire-sink-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("frame.fits");
        let total = 3 * PIECE + 17;
        let mut made = std::collections::HashSet::new();
        let mut pieces = Vec::new();
        for round in 0..2u8 {
            let mut sink = FileSink::create(path.clone(), total, pieces);
            let mut sent = 0usize;
            while sent < total {
                let mut piece = sink.piece().await.unwrap();
                assert!(piece.is_empty());
                made.insert(piece.as_ptr() as usize);
                let n = (total - sent).min(piece.capacity());
                piece.extend((sent..sent + n).map(|i| (i % 251) as u8 ^ round));
                sent += n;
                sink.write(piece).await.unwrap();
            }
            pieces = sink.finish().await.unwrap();
            assert_eq!(pieces.len(), 4, "every piece comes back");
            let back = std::fs::read(&path).unwrap();
            assert_eq!(back.len(), total);
            assert!(back
                .iter()
                .enumerate()
                .all(|(i, &b)| b == (i % 251) as u8 ^ round));
        }
        // The second file was written with the first one's pieces.
        assert_eq!(made.len(), 4, "{} pieces allocated", made.len());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_file_that_cannot_be_made_is_an_error_not_a_hang() {
        let path = PathBuf::from("/proc/labwire-no-such-dir/frame.fits");
        let mut sink = FileSink::create(path, 10, Vec::new());
        let mut failed = false;
        for _ in 0..pieces_for(10, 10) + 1 {
            let piece = sink.piece().await;
            let Ok(mut piece) = piece else {
                failed = true;
                break;
            };
            piece.extend_from_slice(b"x");
            if sink.write(piece).await.is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed || sink.finish().await.is_err());
    }
}
