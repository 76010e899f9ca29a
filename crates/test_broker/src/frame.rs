//! Request/response framing.
//!
//! Request: `u32le length(code + payload) | u32le code | payload`.
//! Response: `u32le status | u32le length | payload` (status 0 = OK, else an `IggyError` code).

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes of the response header (status + length) reserved at the start of every response buffer.
pub const RESPONSE_HEADER: usize = 8;

/// What reading the next request produced.
pub enum ReadOutcome {
    /// A complete request; its payload is in the caller's buffer.
    Request { code: u32 },
    /// The peer closed the connection between requests.
    Closed,
    /// The declared length is impossible (< 4) or above the limit; the stream cannot be
    /// resynchronised, so the connection must be answered once and closed.
    BadLength(u32),
}

/// Reads one request into `payload` (cleared first). I/O errors, including a frame truncated by
/// the peer closing mid-way, are returned as errors and end the connection.
pub async fn read_request<R: AsyncRead + Unpin>(
    reader: &mut R,
    payload: &mut Vec<u8>,
    max_frame_bytes: u32,
) -> std::io::Result<ReadOutcome> {
    let mut head = [0u8; 4];
    // A clean close before the first byte of a frame is not an error.
    let first = reader.read(&mut head[..1]).await?;
    if first == 0 {
        return Ok(ReadOutcome::Closed);
    }
    reader.read_exact(&mut head[1..]).await?;
    let length = u32::from_le_bytes(head);
    if !(4..=max_frame_bytes).contains(&length) {
        return Ok(ReadOutcome::BadLength(length));
    }
    let mut code = [0u8; 4];
    reader.read_exact(&mut code).await?;
    let payload_len = (length - 4) as usize;
    payload.clear();
    payload.resize(payload_len, 0);
    reader.read_exact(payload).await?;
    Ok(ReadOutcome::Request {
        code: u32::from_le_bytes(code),
    })
}

/// Starts a response in `out`: clears it and reserves the 8 header bytes, filled by
/// [`finish_ok`] or [`write_error`].
pub fn begin(out: &mut BytesMut) {
    out.clear();
    out.put_bytes(0, RESPONSE_HEADER);
}

/// Fills in the header of an OK response whose payload has been appended after [`begin`].
pub fn finish_ok(out: &mut BytesMut) {
    let payload_len = (out.len() - RESPONSE_HEADER) as u32;
    out[0..4].copy_from_slice(&0u32.to_le_bytes());
    out[4..8].copy_from_slice(&payload_len.to_le_bytes());
}

/// Replaces whatever is in `out` with an error response carrying `status` and no payload.
pub fn write_error(out: &mut BytesMut, status: u32) {
    out.clear();
    out.put_u32_le(status);
    out.put_u32_le(0);
}
