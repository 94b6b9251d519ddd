//! The read side of a connection: frames in, whole messages and control frames out.
//!
//! Text is validated as its bytes arrive, so invalid UTF-8 fails the connection before the
//! frame (let alone the message) ends. Sizes are checked against the limits on the header,
//! before any payload is buffered; a compressed message is inflated frame by frame as it
//! arrives, and its size is checked as it inflates, never past the limit.

use bytes::{Bytes, BytesMut};

use super::{Message, ProtocolError};
use crate::deflate::{Decompressor, InflateError, RSV1};
use crate::frame::{
    CloseCode, FrameDecoder, FrameError, FrameHeader, FramePart, OpCode, Utf8Validator,
};

/// What a message buffer starts with: enough for small messages, grown as data arrives
/// (never sized from a peer's announced length, which may be a lie).
const INITIAL_MESSAGE_CAPACITY: usize = 4 << 10;

/// A complete unit read from the peer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    Message(Message),
    Ping(Bytes),
    Pong(Bytes),
    /// A close frame: its code and reason, or `None` when it had no payload.
    Close(Option<(CloseCode, String)>),
}

/// A message whose frames are still arriving.
#[derive(Debug)]
struct Partial {
    text: bool,
    /// Its first frame had RSV1: the frames carry one deflate stream, and `buf` what it
    /// inflated to so far.
    compressed: bool,
    buf: BytesMut,
    utf8: Utf8Validator,
}

/// Reassembles messages from the frame stream.
#[derive(Debug)]
pub(crate) struct Reader {
    decoder: FrameDecoder,
    /// The header of the frame whose payload is arriving.
    frame: Option<FrameHeader>,
    /// Payload of the control frame in progress (at most 125 bytes).
    control: BytesMut,
    message: Option<Partial>,
    max_message_size: usize,
    /// Set once permessage-deflate is agreed.
    /// Boxed: most connections agree no compression, and the slot would cost them 160 B.
    inflater: Option<Box<Decompressor>>,
}

impl Reader {
    pub(crate) fn new(expect_masked: bool, max_frame_size: usize, max_message_size: usize) -> Self {
        Reader {
            decoder: FrameDecoder::new(expect_masked, max_frame_size as u64, 0),
            frame: None,
            control: BytesMut::new(),
            message: None,
            max_message_size,
            inflater: None,
        }
    }

    /// permessage-deflate was agreed: RSV1 may mark the first frame of a message.
    /// `peer_no_context_takeover`: the peer resets its compressor after every message.
    pub(crate) fn enable_deflate(&mut self, peer_no_context_takeover: bool) {
        self.decoder.set_allowed_rsv(RSV1);
        self.inflater = Some(Box::new(Decompressor::new(peer_no_context_takeover)));
    }

    /// Bytes held for a message in progress.
    pub(crate) fn buffered(&self) -> usize {
        self.message.as_ref().map_or(0, |m| m.buf.len())
    }

    /// Consumes what it can from `input`; `Ok(None)` means more bytes are needed.
    /// After an error the stream cannot be read on; the message in progress is dropped.
    pub(crate) fn next(&mut self, input: &mut BytesMut) -> Result<Option<Received>, ProtocolError> {
        let next = self.next_inner(input);
        if next.is_err() {
            self.message = None;
        }
        next
    }

    #[inline]
    fn next_inner(&mut self, input: &mut BytesMut) -> Result<Option<Received>, ProtocolError> {
        loop {
            if let Some((header, data)) = self.decoder.decode_small_frame(input)? {
                match self.whole_frame(header, data) {
                    Ok(None) => continue,
                    done => return done,
                }
            }
            let Some(part) = self.decoder.decode(input)? else {
                return Ok(None);
            };
            match part {
                FramePart::Header(header) => self.start_frame(header)?,
                FramePart::Payload { data, last } => {
                    if let Some(done) = self.payload(data, last)? {
                        return Ok(Some(done));
                    }
                }
            }
        }
    }

    /// A frame that arrived whole. An uncompressed message in one frame, the common
    /// case, becomes a message here without the message buffer; the rest goes the way of
    /// frames that arrive in parts.
    #[inline]
    fn whole_frame(
        &mut self,
        header: FrameHeader,
        data: Vec<u8>,
    ) -> Result<Option<Received>, ProtocolError> {
        let single = header.fin && header.rsv == 0 && self.message.is_none();
        match header.opcode {
            OpCode::Binary if single => {
                self.check_size(header.payload_len)?;
                Ok(Some(Received::Message(Message::Binary(data.into()))))
            }
            OpCode::Text if single => {
                self.check_size(header.payload_len)?;
                let text = String::from_utf8(data).map_err(|_| crate::frame::Utf8Error)?;
                Ok(Some(Received::Message(Message::Text(text))))
            }
            _ => {
                self.start_frame(header)?;
                self.payload(BytesMut::from(Bytes::from(data)), true)
            }
        }
    }

    fn start_frame(&mut self, header: FrameHeader) -> Result<(), ProtocolError> {
        // The decoder lets RSV1 through only once deflate is agreed, and then it may only
        // start a data message (RFC 7692 §6.1).
        let rsv1 = header.rsv & RSV1 != 0;
        match header.opcode {
            OpCode::Close | OpCode::Ping | OpCode::Pong if rsv1 => {
                return Err(FrameError::ReservedBits(header.rsv).into())
            }
            OpCode::Close | OpCode::Ping | OpCode::Pong => self.control.clear(),
            OpCode::Continuation => {
                let Some(message) = &self.message else {
                    return Err(ProtocolError::UnexpectedContinuation);
                };
                if rsv1 {
                    return Err(FrameError::ReservedBits(header.rsv).into());
                }
                if !message.compressed {
                    self.check_size(message.buf.len() as u64 + header.payload_len)?;
                }
            }
            OpCode::Text | OpCode::Binary => {
                if self.message.is_some() {
                    return Err(ProtocolError::ExpectedContinuation);
                }
                // A compressed message's size is known only as it inflates.
                if !rsv1 {
                    self.check_size(header.payload_len)?;
                }
                self.message = Some(Partial {
                    text: header.opcode == OpCode::Text,
                    compressed: rsv1,
                    buf: BytesMut::new(),
                    utf8: Utf8Validator::new(),
                });
            }
        }
        self.frame = Some(header);
        Ok(())
    }

    fn check_size(&self, size: u64) -> Result<(), ProtocolError> {
        if size > self.max_message_size as u64 {
            return Err(ProtocolError::MessageTooBig {
                size,
                max: self.max_message_size,
            });
        }
        Ok(())
    }

    fn payload(&mut self, data: BytesMut, last: bool) -> Result<Option<Received>, ProtocolError> {
        // The decoder yields payload only after a header, which `start_frame` stored.
        let Some(frame) = self.frame else {
            return Ok(None);
        };
        if frame.opcode.is_control() {
            self.control.extend_from_slice(&data);
            if !last {
                return Ok(None);
            }
            self.frame = None;
            let payload = self.control.split().freeze();
            return control(frame.opcode, payload).map(Some);
        }
        let Some(message) = &mut self.message else {
            return Ok(None);
        };
        let ends_message = last && frame.fin;
        if message.compressed {
            // Only set when deflate is agreed, as RSV1 is only let through then.
            let Some(inflater) = &mut self.inflater else {
                return Ok(None);
            };
            let max = self.max_message_size;
            let before = message.buf.len();
            let inflated = inflater
                .inflate(&data, &mut message.buf, max)
                .and_then(|()| {
                    if ends_message {
                        inflater.finish(&mut message.buf, max)
                    } else {
                        Ok(())
                    }
                });
            inflated.map_err(|e| match e {
                InflateError::TooBig { size } => ProtocolError::MessageTooBig {
                    size: size as u64,
                    max,
                },
                InflateError::Corrupt => ProtocolError::BadCompression,
            })?;
            if message.text {
                message.utf8.feed(&message.buf[before..])?;
            }
        } else if ends_message && message.buf.is_empty() {
            // The common case: one frame, one chunk. Keep the chunk as it is; `finish`
            // validates its text in one pass.
            message.buf = data;
        } else {
            if message.text {
                message.utf8.feed(&data)?;
            }
            if message.buf.capacity() == 0 {
                message
                    .buf
                    .reserve(INITIAL_MESSAGE_CAPACITY.max(data.len()));
            }
            message.buf.extend_from_slice(&data);
        }
        if !last {
            return Ok(None);
        }
        self.frame = None;
        if !frame.fin {
            return Ok(None);
        }
        let Some(message) = self.message.take() else {
            return Ok(None);
        };
        finish(message).map(|m| Some(Received::Message(m)))
    }
}

fn finish(mut message: Partial) -> Result<Message, ProtocolError> {
    if !message.text {
        return Ok(Message::Binary(message.buf.freeze()));
    }
    message.utf8.finish()?;
    let text = String::from_utf8(Vec::from(message.buf)).map_err(|_| crate::frame::Utf8Error)?;
    Ok(Message::Text(text))
}

fn control(opcode: OpCode, payload: Bytes) -> Result<Received, ProtocolError> {
    match opcode {
        OpCode::Ping => Ok(Received::Ping(payload)),
        OpCode::Pong => Ok(Received::Pong(payload)),
        _ => parse_close(&payload).map(Received::Close),
    }
}

/// A close payload is empty, or a sendable 2-byte code then a UTF-8 reason (RFC 6455 §5.5.1).
fn parse_close(payload: &[u8]) -> Result<Option<(CloseCode, String)>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolError::InvalidClose),
        [hi, lo, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_sendable() {
                return Err(ProtocolError::InvalidClose);
            }
            let reason = std::str::from_utf8(reason).map_err(|_| crate::frame::Utf8Error)?;
            Ok(Some((code, reason.to_owned())))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::frame::encode_frame;

    const MASK: Option<[u8; 4]> = Some([1, 2, 3, 4]);

    fn frames(list: &[(bool, OpCode, &[u8])]) -> BytesMut {
        let mut out = BytesMut::new();
        for (fin, op, payload) in list {
            encode_frame(&mut out, *fin, *op, MASK, payload);
        }
        out
    }

    fn read_all(
        reader: &mut Reader,
        input: &[u8],
        step: usize,
    ) -> Result<Vec<Received>, ProtocolError> {
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in input.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            while let Some(r) = reader.next(&mut buf)? {
                got.push(r);
            }
        }
        Ok(got)
    }

    #[test]
    fn fragments_with_interleaved_control_frames_reassemble_at_any_split() {
        let input = frames(&[
            (false, OpCode::Text, "κόσ".as_bytes()),
            (true, OpCode::Ping, b"p"),
            (false, OpCode::Continuation, "με".as_bytes()),
            (true, OpCode::Continuation, b""),
            (true, OpCode::Binary, &[0, 1, 2]),
            (true, OpCode::Close, &[0x03, 0xe8, b'b', b'y', b'e']),
        ]);
        let expected = vec![
            Received::Ping(Bytes::from_static(b"p")),
            Received::Message(Message::Text("κόσμε".into())),
            Received::Message(Message::Binary(Bytes::from_static(&[0, 1, 2]))),
            Received::Close(Some((CloseCode::NORMAL, "bye".into()))),
        ];
        for step in 1..=input.len() {
            let mut reader = Reader::new(true, 1 << 20, 1 << 20);
            assert_eq!(
                read_all(&mut reader, &input, step).unwrap(),
                expected,
                "step {step}"
            );
        }
    }

    #[test]
    fn invalid_utf8_fails_before_the_frame_ends() {
        let mut input = frames(&[(true, OpCode::Text, b"ok\xff and more text after it")]);
        // Only the header and the first three payload bytes: the 0xff is already fatal.
        input.truncate(2 + 4 + 3);
        let mut reader = Reader::new(true, 1 << 20, 1 << 20);
        let err = read_all(&mut reader, &input, 1).unwrap_err();
        assert_eq!(err.close_code(), CloseCode::INVALID_PAYLOAD);
    }

    #[test]
    fn single_frame_messages_are_checked_when_they_arrive_whole() {
        for (opcode, payload) in [
            (OpCode::Text, &b"abcdefghijk"[..]),
            (OpCode::Binary, &[0; 11]),
        ] {
            let input = frames(&[(true, opcode, payload)]);
            let mut reader = Reader::new(true, 1 << 20, 10);
            let err = read_all(&mut reader, &input, input.len()).unwrap_err();
            assert_eq!(err, ProtocolError::MessageTooBig { size: 11, max: 10 });
        }
        let input = frames(&[(true, OpCode::Text, b"ok\xff")]);
        let mut reader = Reader::new(true, 1 << 20, 1 << 20);
        let err = read_all(&mut reader, &input, input.len()).unwrap_err();
        assert_eq!(err.close_code(), CloseCode::INVALID_PAYLOAD);
    }

    #[test]
    fn message_size_is_checked_on_headers_across_fragments() {
        let input = frames(&[
            (false, OpCode::Binary, &[0; 8]),
            (true, OpCode::Continuation, &[0; 8]),
        ]);
        let mut reader = Reader::new(true, 1 << 20, 10);
        let err = read_all(&mut reader, &input, input.len()).unwrap_err();
        assert_eq!(err, ProtocolError::MessageTooBig { size: 16, max: 10 });
        assert_eq!(err.close_code(), CloseCode::MESSAGE_TOO_BIG);
    }

    #[test]
    fn sequencing_errors() {
        let mut reader = Reader::new(true, 1 << 20, 1 << 20);
        let input = frames(&[(true, OpCode::Continuation, b"x")]);
        assert_eq!(
            read_all(&mut reader, &input, 64).unwrap_err(),
            ProtocolError::UnexpectedContinuation
        );

        let mut reader = Reader::new(true, 1 << 20, 1 << 20);
        let input = frames(&[(false, OpCode::Text, b"a"), (true, OpCode::Text, b"b")]);
        assert_eq!(
            read_all(&mut reader, &input, 64).unwrap_err(),
            ProtocolError::ExpectedContinuation
        );
    }

    #[test]
    fn close_payload_rules() {
        assert_eq!(parse_close(&[]).unwrap(), None);
        assert_eq!(parse_close(&[3]).unwrap_err(), ProtocolError::InvalidClose);
        assert_eq!(
            parse_close(&[0x03, 0xed]).unwrap_err(),
            ProtocolError::InvalidClose
        ); // 1005
        assert_eq!(
            parse_close(&[0x0f, 0xa0]).unwrap(),
            Some((CloseCode(4000), String::new()))
        );
        let bad_reason = parse_close(&[0x03, 0xe8, 0xff]).unwrap_err();
        assert_eq!(bad_reason.close_code(), CloseCode::INVALID_PAYLOAD);
    }
}
