//! Gzip-compressed JSON blobs: how the state store keeps the graph's state
//! and the analysis journal.
//!
//! Encoding streams the JSON text through the compressor, so the
//! uncompressed text (tens of MB for a graph holding many unpaired halves,
//! gigabytes for a large fleet's journal) never sits in memory, and the
//! blob handed to the store is several times smaller. Decoding accepts plain
//! JSON too (blobs written before compression). Never does: I/O.

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
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut writer = std::io::BufWriter::new(&mut encoder);
    serde_json::to_writer(&mut writer, value)?;
    std::io::Write::flush(&mut writer)?;
    drop(writer);
    encoder.finish()
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
}
