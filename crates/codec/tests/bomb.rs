//! A decompression bomb stops at the cap without the process allocating the
//! bomb's size. Its own test binary, so the counting allocator sees only it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use otelvault_codec::{CodecError, Compression, ContentEncoding, compression};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to the system allocator unchanged; the
// counters are only bookkeeping.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as the system does it: in place (mremap for large blocks),
        // not as a second live buffer.
        if new_size >= layout.size() {
            let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::SeqCst) + new_size
                - layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        } else {
            CURRENT.fetch_sub(layout.size() - new_size, Ordering::SeqCst);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: usize = 1 << 20;

/// 100 MiB of zeros, compressed by streaming so that building the bomb never
/// holds 100 MiB either.
fn bomb(compression: Compression) -> Vec<u8> {
    use std::io::Write;
    let zeros = vec![0u8; MIB];
    match compression {
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            for _ in 0..100 {
                enc.write_all(&zeros).expect("write");
            }
            enc.finish().expect("finish")
        }
        Compression::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 19).expect("zstd");
            for _ in 0..100 {
                enc.write_all(&zeros).expect("write");
            }
            enc.finish().expect("finish")
        }
        Compression::None => unreachable!(),
    }
}

#[test]
fn bombs_stop_at_the_cap_without_allocating_the_bomb() {
    let limit = 8 * MIB;
    for c in [Compression::Gzip, Compression::Zstd] {
        let body = bomb(c);
        assert!(body.len() < MIB / 4, "{c} bomb is {} bytes", body.len());
        let before = CURRENT.load(Ordering::SeqCst);
        PEAK.store(before, Ordering::SeqCst);
        let result = compression::decompress(c.content_encoding(), &body, limit);
        let peak = PEAK.load(Ordering::SeqCst) - before;
        match result {
            Err(CodecError::TooLarge { limit: l, .. }) => assert_eq!(l, limit),
            other => panic!("{c}: expected TooLarge, got {:?}", other.map(|b| b.len())),
        }
        // The output buffer may reach the cap; decoder state is small. The
        // bomb's 100 MiB must never be allocated.
        assert!(peak <= limit + 4 * MIB, "{c}: peak allocation {peak} bytes");
        assert!(peak < 100 * MIB);
    }
    // The deflate path shares the reader.
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut enc, &vec![0u8; 20 * MIB]).expect("write");
    let body = enc.finish().expect("finish");
    assert!(matches!(
        compression::decompress(ContentEncoding::Deflate, &body, limit),
        Err(CodecError::TooLarge { .. })
    ));
}
