//! Compression: every decompression goes through one capped reader, so a
//! small body can never inflate past the configured limit (no decompression
//! bombs), and the output buffer never grows beyond that limit either.

use std::borrow::Cow;
use std::fmt;
use std::io::{Read, Write};
use std::str::FromStr;

use crate::CodecError;

/// An HTTP `Content-Encoding` otelvault accepts on requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncoding {
    /// No encoding.
    Identity,
    /// gzip (RFC 1952); concatenated members are read as one stream.
    Gzip,
    /// HTTP `deflate`: zlib (RFC 1950), or raw deflate (RFC 1951) as some clients send.
    Deflate,
    /// Zstandard (RFC 8878).
    Zstd,
}

impl ContentEncoding {
    /// Parses a `Content-Encoding` header value; `None` for unsupported
    /// encodings (a 415 at the HTTP layer).
    pub fn from_header(value: &str) -> Option<Self> {
        let value = value.trim();
        [
            ("", ContentEncoding::Identity),
            ("identity", ContentEncoding::Identity),
            ("gzip", ContentEncoding::Gzip),
            ("x-gzip", ContentEncoding::Gzip),
            ("deflate", ContentEncoding::Deflate),
            ("zstd", ContentEncoding::Zstd),
        ]
        .into_iter()
        .find(|(name, _)| value.eq_ignore_ascii_case(name))
        .map(|(_, e)| e)
    }

    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentEncoding::Identity => "identity",
            ContentEncoding::Gzip => "gzip",
            ContentEncoding::Deflate => "deflate",
            ContentEncoding::Zstd => "zstd",
        }
    }
}

/// Compression of stored objects (and of replayed requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Stored as is.
    None,
    /// gzip, object names end in `.gz` (the Collector's `awss3exporter` default compression).
    #[default]
    Gzip,
    /// Zstandard, object names end in `.zst`.
    Zstd,
}

impl Compression {
    /// The object name suffix, including the dot; empty for `None`.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
        }
    }

    /// The matching HTTP content encoding.
    pub fn content_encoding(self) -> ContentEncoding {
        match self {
            Compression::None => ContentEncoding::Identity,
            Compression::Gzip => ContentEncoding::Gzip,
            Compression::Zstd => ContentEncoding::Zstd,
        }
    }

    /// Compresses `data`.
    pub fn compress(self, data: &[u8]) -> Result<Vec<u8>, CodecError> {
        let err = |source| CodecError::Compress {
            encoding: self.content_encoding().as_str(),
            source,
        };
        match self {
            Compression::None => Ok(data.to_vec()),
            Compression::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(
                    Vec::with_capacity(data.len() / 4),
                    flate2::Compression::new(GZIP_LEVEL),
                );
                enc.write_all(data).map_err(err)?;
                enc.finish().map_err(err)
            }
            Compression::Zstd => zstd::bulk::compress(data, ZSTD_LEVEL).map_err(err),
        }
    }

    /// Decompresses `data`, refusing to produce more than `limit` bytes.
    pub fn decompress(self, data: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, CodecError> {
        decompress(self.content_encoding(), data, limit)
    }

    /// [`Compression::decompress`] over `room`, memory kept from one call
    /// to the next: a caller that decompresses one object after another
    /// reuses it (an hour's objects inflate to hundreds of MiB, which fresh
    /// buffers would each fault in page by page, and zeroing it again for
    /// each object cost as much as copying it). See [`decompress_over`].
    pub fn decompress_over<'r>(
        self,
        data: &[u8],
        limit: usize,
        room: &'r mut Vec<u8>,
    ) -> Result<&'r [u8], CodecError> {
        decompress_over(self.content_encoding(), data, limit, room)
    }
}

/// gzip level for stored objects: level 6 (zlib's default) costs about twice
/// the CPU of level 1 on OTLP JSON for a ratio only slightly better; see
/// `cargo bench -p otelvault-codec`.
const GZIP_LEVEL: u32 = 6;
/// zstd's default level.
const ZSTD_LEVEL: i32 = 3;
/// zstd frames may ask for a window of up to 2^31 bytes; refuse windows over
/// 32 MiB so a crafted frame header cannot make the decoder allocate more.
const ZSTD_WINDOW_LOG_MAX: u32 = 25;

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

impl FromStr for Compression {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            other => Err(format!(
                "unknown compression {other:?} (expected gzip, zstd or none)"
            )),
        }
    }
}

/// Decompresses `data` with `encoding` through the capped reader: at most
/// `limit` bytes are produced (and allocated); more is [`CodecError::TooLarge`].
pub fn decompress(
    encoding: ContentEncoding,
    data: &[u8],
    limit: usize,
) -> Result<Cow<'_, [u8]>, CodecError> {
    if encoding == ContentEncoding::Identity {
        return within_limit(data, limit).map(Cow::Borrowed);
    }
    let mut out = Vec::new();
    let len = decompress_over(encoding, data, limit, &mut out)?.len();
    out.truncate(len);
    Ok(Cow::Owned(out))
}

/// [`decompress`] over `room`: the content is the slice returned, at the
/// start of `room`. What `room` held is overwritten, not zeroed again; it
/// grows as the content needs, never to hold more than `limit` bytes of it
/// and one more (the one that says the content is too large). After an
/// error `room` is empty.
pub fn decompress_over<'r>(
    encoding: ContentEncoding,
    data: &[u8],
    limit: usize,
    room: &'r mut Vec<u8>,
) -> Result<&'r [u8], CodecError> {
    let name = encoding.as_str();
    let reader: Box<dyn Read + '_> = match encoding {
        ContentEncoding::Identity => {
            room.clear();
            room.extend_from_slice(within_limit(data, limit)?);
            return Ok(room);
        }
        ContentEncoding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(data)),
        ContentEncoding::Deflate if looks_like_zlib(data) => {
            Box::new(flate2::read::ZlibDecoder::new(data))
        }
        ContentEncoding::Deflate => Box::new(flate2::read::DeflateDecoder::new(data)),
        ContentEncoding::Zstd => {
            let io_err = |source| CodecError::Decompress {
                encoding: name,
                source,
            };
            let mut decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(io_err)?;
            decoder
                .window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(io_err)?;
            Box::new(decoder)
        }
    };
    let len = read_capped(reader, data.len(), limit, name, room)?;
    Ok(&room[..len])
}

/// `data` as it is, when it is within `limit` bytes.
fn within_limit(data: &[u8], limit: usize) -> Result<&[u8], CodecError> {
    if data.len() > limit {
        return Err(CodecError::TooLarge {
            encoding: ContentEncoding::Identity.as_str(),
            limit,
        });
    }
    Ok(data)
}

/// A zlib stream starts with CMF/FLG bytes: compression method 8 and a
/// header checksum that is a multiple of 31.
fn looks_like_zlib(data: &[u8]) -> bool {
    match data {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

/// Reads `reader` to its end over `room` (see [`decompress_over`]), the
/// decompressor writing straight into it: the length of the content.
/// `room` grows geometrically from four times the input (OTLP compresses
/// 4-10x), and never past `limit` bytes and one more.
fn read_capped(
    mut reader: impl Read,
    input_len: usize,
    limit: usize,
    encoding: &'static str,
    room: &mut Vec<u8>,
) -> Result<usize, CodecError> {
    const FIRST: usize = 64 * 1024;
    let most = limit.saturating_add(1);
    let mut filled = 0;
    loop {
        if filled >= most {
            room.clear();
            return Err(CodecError::TooLarge { encoding, limit });
        }
        if filled == room.len() {
            let grown = if filled == 0 {
                input_len.saturating_mul(4).max(FIRST)
            } else {
                filled.saturating_mul(2)
            }
            .min(most);
            room.reserve_exact(grown - filled);
            room.resize(grown, 0);
        }
        let end = room.len().min(most);
        match reader.read(&mut room[filled..end]) {
            Ok(0) => return Ok(filled),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                room.clear();
                return Err(CodecError::Decompress { encoding, source });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 1 << 20;

    fn sample() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn every_encoding_round_trips() {
        let data = sample();
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let packed = c.compress(&data).expect("compress");
            let unpacked = c.decompress(&packed, LIMIT).expect("decompress");
            assert_eq!(unpacked.as_ref(), data.as_slice(), "{c}");
        }
    }

    #[test]
    fn deflate_accepts_zlib_and_raw_streams() {
        let data = sample();
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(&data).expect("write");
        let zlib = zlib.finish().expect("finish");
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(&data).expect("write");
        let raw = raw.finish().expect("finish");
        for body in [zlib, raw] {
            let out = decompress(ContentEncoding::Deflate, &body, LIMIT).expect("inflate");
            assert_eq!(out.as_ref(), data.as_slice());
        }
    }

    #[test]
    fn concatenated_gzip_members_are_one_body() {
        let a = Compression::Gzip.compress(b"hello ").expect("gzip");
        let b = Compression::Gzip.compress(b"world").expect("gzip");
        let both = [a, b].concat();
        let out = decompress(ContentEncoding::Gzip, &both, LIMIT).expect("gunzip");
        assert_eq!(out.as_ref(), b"hello world");
    }

    #[test]
    fn output_over_the_limit_is_too_large_for_every_encoding() {
        let data = vec![7u8; LIMIT + 1];
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let packed = c.compress(&data).expect("compress");
            match c.decompress(&packed, LIMIT) {
                Err(CodecError::TooLarge { limit, .. }) => assert_eq!(limit, LIMIT),
                other => panic!("{c}: expected TooLarge, got {other:?}"),
            }
        }
        // Exactly at the limit is fine.
        let at_limit = Compression::Gzip.compress(&data[..LIMIT]).expect("gzip");
        assert_eq!(
            Compression::Gzip
                .decompress(&at_limit, LIMIT)
                .expect("gunzip")
                .len(),
            LIMIT
        );
    }

    #[test]
    fn corrupt_and_truncated_bodies_are_decompress_errors() {
        let packed = Compression::Gzip.compress(&sample()).expect("gzip");
        for body in [&packed[..packed.len() / 2], b"not gzip at all".as_slice()] {
            assert!(matches!(
                decompress(ContentEncoding::Gzip, body, LIMIT),
                Err(CodecError::Decompress { .. })
            ));
        }
        assert!(matches!(
            decompress(ContentEncoding::Zstd, b"\x28\xb5\x2f\xfd garbage", LIMIT),
            Err(CodecError::Decompress { .. })
        ));
        assert!(matches!(
            decompress(ContentEncoding::Deflate, b"\xff\xff\xff\xff", LIMIT),
            Err(CodecError::Decompress { .. })
        ));
    }

    #[test]
    fn reused_room_gives_exactly_the_latest_content() {
        let big = sample();
        let small = b"a small body".to_vec();
        let mut room = Vec::new();
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            for data in [&big, &small, &big] {
                let packed = c.compress(data).expect("compress");
                let content = c.decompress_over(&packed, LIMIT, &mut room);
                assert_eq!(content.expect("decompress"), data.as_slice(), "{c}");
                assert!(room.len() <= LIMIT + 1, "{c}: {} bytes of room", room.len());
            }
            // A failure leaves nothing of an earlier body behind.
            let too_large = c.compress(&vec![7u8; LIMIT + 1]).expect("compress");
            assert!(matches!(
                c.decompress_over(&too_large, LIMIT, &mut room),
                Err(CodecError::TooLarge { .. })
            ));
            assert!(room.is_empty(), "{c}");
        }
        for c in [Compression::Gzip, Compression::Zstd] {
            c.decompress_over(&c.compress(&big).expect("compress"), LIMIT, &mut room)
                .expect("decompress");
            let corrupt = &c.compress(&big).expect("compress")[..100];
            assert!(c.decompress_over(corrupt, LIMIT, &mut room).is_err());
            assert!(room.is_empty(), "{c}");
        }
        // Room left larger by an earlier, larger limit still holds a
        // content to this call's limit.
        let mut room = vec![0; 4 * LIMIT];
        let exactly = vec![7u8; LIMIT];
        let gzip = Compression::Gzip;
        let content = gzip.decompress_over(
            &gzip.compress(&exactly).expect("compress"),
            LIMIT,
            &mut room,
        );
        assert_eq!(content.expect("at the limit"), exactly.as_slice());
        let over = gzip.compress(&vec![7u8; LIMIT + 1]).expect("compress");
        assert!(matches!(
            gzip.decompress_over(&over, LIMIT, &mut room),
            Err(CodecError::TooLarge { .. })
        ));
    }

    #[test]
    fn header_values_parse_case_insensitively() {
        assert_eq!(
            ContentEncoding::from_header(" GZIP "),
            Some(ContentEncoding::Gzip)
        );
        assert_eq!(
            ContentEncoding::from_header("identity"),
            Some(ContentEncoding::Identity)
        );
        assert_eq!(
            ContentEncoding::from_header("Zstd"),
            Some(ContentEncoding::Zstd)
        );
        assert_eq!(ContentEncoding::from_header("br"), None);
        assert_eq!(ContentEncoding::from_header("gzip, br"), None);
    }
}
