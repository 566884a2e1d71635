//! Gzip-compressed JSON blobs: how the state store keeps the graph's state
//! and the analysis journal.
//!
//! Encoding streams the JSON text through the compressor, so the
//! uncompressed text (tens of MB for a graph holding many unpaired halves,
//! gigabytes for a large fleet's journal) never sits in memory, and the
//! blob handed to the store is several times smaller. Decoding accepts plain
//! JSON too (blobs written before compression).
//!
//! The version before the journal was saved by parts stored it in chunks
//! of at most 4 MiB (one gzip stream cut in pieces): [`from_chunks`] still
//! reads those (the chunk writer is kept for the tests that make them).
//! Never does: I/O.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The first bytes of a gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// `value` as gzip-compressed JSON (the fastest compression level: these
/// blobs are written every few seconds).
///
/// # Errors
/// When serialization fails.
pub fn to_gzip_json<T: Serialize + ?Sized>(value: &T) -> std::io::Result<Vec<u8>> {
    to_gzip_json_sized(value, 0)
}

/// [`to_gzip_json`] into a buffer of `capacity` bytes to start with: a
/// caller that knows about how large the blob will be (the previous
/// snapshot's) spares the buffer its doublings, each a copy, and the
/// unused half of the last one (up to 32 MB for a 17 MB graph state).
///
/// # Errors
/// When serialization fails.
pub fn to_gzip_json_sized<T: Serialize + ?Sized>(
    value: &T,
    capacity: usize,
) -> std::io::Result<Vec<u8>> {
    let mut out = gzip_json_into(Vec::with_capacity(capacity), value)?;
    // The buffer grew by doubling; a graph state waits in the window queue
    // until stored, so give the unused part back (heaptrack, 5,000
    // services: 67 MB of graph-state buffers at the peak for ≈16.5 MB states).
    out.shrink_to_fit();
    Ok(out)
}

/// `value` as gzip JSON streamed into `out`, which is returned.
fn gzip_json_into<W, T>(out: W, value: &T) -> std::io::Result<W>
where
    W: std::io::Write,
    T: Serialize + ?Sized,
{
    let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    let mut writer = std::io::BufWriter::new(&mut encoder);
    serde_json::to_writer(&mut writer, value)?;
    std::io::Write::flush(&mut writer)?;
    drop(writer);
    encoder.finish()
}

/// The largest chunk [`to_gzip_json_chunks`] produces.
#[cfg(test)]
pub(crate) const CHUNK_BYTES: usize = 4 << 20;

/// [`to_gzip_json`] in chunks of at most [`CHUNK_BYTES`], in order (how
/// the version before parts stored the journal).
#[cfg(test)]
pub(crate) fn to_gzip_json_chunks<T: Serialize + ?Sized>(
    value: &T,
) -> std::io::Result<Vec<Vec<u8>>> {
    Ok(gzip_json_into(ChunkWriter::default(), value)?.chunks)
}

/// A blob in chunks (one gzip stream cut in pieces, or one whole blob as a
/// single chunk), gzip or plain JSON.
///
/// # Errors
/// When the bytes are neither.
pub fn from_chunks<T: DeserializeOwned>(chunks: &[Vec<u8>]) -> serde_json::Result<T> {
    let reader = ChunkReader {
        current: &[],
        rest: chunks,
    };
    if chunks.first().is_some_and(|c| c.starts_with(&GZIP_MAGIC)) {
        let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(reader));
        serde_json::from_reader(reader)
    } else {
        serde_json::from_reader(std::io::BufReader::new(reader))
    }
}

/// Collects written bytes in chunks of at most [`CHUNK_BYTES`].
#[cfg(test)]
#[derive(Debug, Default)]
struct ChunkWriter {
    chunks: Vec<Vec<u8>>,
}

#[cfg(test)]
impl std::io::Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK_BYTES) {
            self.chunks.push(Vec::new());
        }
        let Some(chunk) = self.chunks.last_mut() else {
            return Ok(0);
        };
        let n = buf.len().min(CHUNK_BYTES - chunk.len());
        chunk.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads chunks one after the other.
struct ChunkReader<'a> {
    current: &'a [u8],
    rest: &'a [Vec<u8>],
}

impl std::io::Read for ChunkReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            let Some((next, rest)) = self.rest.split_first() else {
                return Ok(0);
            };
            (self.current, self.rest) = (next, rest);
        }
        self.current.read(buf)
    }
}

/// A blob written by [`to_gzip_json`], or plain JSON.
///
/// # Errors
/// When the bytes are neither.
pub fn from_json_or_gzip<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    if bytes.starts_with(&GZIP_MAGIC) {
        let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(bytes));
        serde_json::from_reader(reader)
    } else {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_gzip_blob_keeps_no_spare_capacity() {
        let value: Vec<u64> = (0..200_000).collect();
        let bytes = to_gzip_json(&value).unwrap();
        assert!(bytes.len() > 100_000, "{}", bytes.len());
        assert_eq!(bytes.capacity(), bytes.len());
    }

    #[test]
    fn chunked_blobs_round_trip_and_no_chunk_is_over_the_limit() {
        // Incompressible enough to need several chunks.
        let value: Vec<u64> = xorshift(0x9e37_79b9_7f4a_7c15).take(600_000).collect();
        let chunks = to_gzip_json_chunks(&value).unwrap();
        assert!(chunks.len() >= 2, "{} chunks", chunks.len());
        assert!(
            chunks
                .iter()
                .all(|c| !c.is_empty() && c.len() <= CHUNK_BYTES)
        );
        assert_eq!(chunks.concat(), to_gzip_json(&value).unwrap());
        assert_eq!(from_chunks::<Vec<u64>>(&chunks).unwrap(), value);
        // One whole blob, gzip or plain, reads as a single chunk.
        let plain = serde_json::to_vec(&value[..100]).unwrap();
        assert_eq!(from_chunks::<Vec<u64>>(&[plain]).unwrap(), value[..100]);
        let small = to_gzip_json_chunks(&value[..100]).unwrap();
        assert_eq!(small.len(), 1);
        assert_eq!(from_chunks::<Vec<u64>>(&small).unwrap(), value[..100]);
    }

    #[test]
    fn round_trips_compressed_and_reads_plain_json() {
        let value: BTreeMap<String, Vec<u64>> = (0..200)
            .map(|i| (format!("series-{i}"), vec![i; 20]))
            .collect();
        let blob = to_gzip_json(&value).unwrap();
        assert!(blob.starts_with(&GZIP_MAGIC));
        let plain = serde_json::to_vec(&value).unwrap();
        assert!(
            blob.len() * 4 < plain.len(),
            "{} vs {}",
            blob.len(),
            plain.len()
        );
        let back: BTreeMap<String, Vec<u64>> = from_json_or_gzip(&blob).unwrap();
        assert_eq!(back, value);
        let back: BTreeMap<String, Vec<u64>> = from_json_or_gzip(&plain).unwrap();
        assert_eq!(back, value);
        assert!(from_json_or_gzip::<BTreeMap<String, u64>>(b"\x1f\x8bnot gzip").is_err());
        assert!(from_json_or_gzip::<BTreeMap<String, u64>>(b"{").is_err());
    }

    /// A seeded xorshift64 sequence (test data that does not compress).
    fn xorshift(mut state: u64) -> impl Iterator<Item = u64> {
        std::iter::repeat_with(move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        })
    }

    /// Floats read back from JSON bit for bit (serde_json's
    /// `float_roundtrip`): the journal rebuilds the analyzer from saved
    /// windows and the alert ledger compares alerts read from the alerts
    /// file with live ones, byte for byte.
    #[test]
    fn json_floats_round_trip_bit_for_bit() {
        // Ratios and latencies as the analysis computes them.
        let values: Vec<f64> = xorshift(0x2545_f491_4f6c_dd1d)
            .take(200_000)
            .map(|x| (x % 1_000_000_007) as f64 / ((x >> 40) % 997 + 1) as f64 / 1e3)
            .collect();
        let text = serde_json::to_string(&values).unwrap();
        let back: Vec<f64> = serde_json::from_str(&text).unwrap();
        let differ = values
            .iter()
            .zip(&back)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert_eq!(differ, 0, "{differ} of {} floats changed", values.len());
    }
}
