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
    let name = encoding.as_str();
    let io_err = |source| CodecError::Decompress {
        encoding: name,
        source,
    };
    match encoding {
        ContentEncoding::Identity => {
            if data.len() > limit {
                return Err(CodecError::TooLarge {
                    encoding: name,
                    limit,
                });
            }
            Ok(Cow::Borrowed(data))
        }
        ContentEncoding::Gzip => read_capped(
            flate2::read::MultiGzDecoder::new(data),
            data.len(),
            limit,
            name,
        )
        .map(Cow::Owned),
        ContentEncoding::Deflate => if looks_like_zlib(data) {
            read_capped(
                flate2::read::ZlibDecoder::new(data),
                data.len(),
                limit,
                name,
            )
        } else {
            read_capped(
                flate2::read::DeflateDecoder::new(data),
                data.len(),
                limit,
                name,
            )
        }
        .map(Cow::Owned),
        ContentEncoding::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(io_err)?;
            decoder
                .window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(io_err)?;
            read_capped(decoder, data.len(), limit, name).map(Cow::Owned)
        }
    }
}

/// A zlib stream starts with CMF/FLG bytes: compression method 8 and a
/// header checksum that is a multiple of 31.
fn looks_like_zlib(data: &[u8]) -> bool {
    match data {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

/// Reads `reader` to the end, growing the output by hand so that its capacity
/// never exceeds `limit`, and failing as soon as the output would pass it.
fn read_capped(
    mut reader: impl Read,
    input_len: usize,
    limit: usize,
    encoding: &'static str,
) -> Result<Vec<u8>, CodecError> {
    const CHUNK: usize = 64 * 1024;
    // OTLP compresses 4-10x; start there and grow geometrically, capped.
    let mut out: Vec<u8> =
        Vec::with_capacity(input_len.saturating_mul(4).clamp(CHUNK, limit.max(1)));
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(CodecError::Decompress { encoding, source }),
        };
        let needed = out.len() + n;
        if needed > limit {
            return Err(CodecError::TooLarge { encoding, limit });
        }
        if needed > out.capacity() {
            let target = out.capacity().saturating_mul(2).max(needed).min(limit);
            out.reserve_exact(target - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
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
