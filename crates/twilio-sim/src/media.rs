//! Recording media: real audio bytes, so a browser's `<audio>` element loads and plays.
//!
//! WAV is 8 kHz 8-bit mono PCM carrying a quiet tone. MP3 is a stream of valid
//! MPEG-1 Layer III frames (32 kHz, 32 kbit/s, mono) whose side information codes
//! silence: decoders play it, and its length is the recording's.

/// 8 kHz mono 8-bit PCM WAV of `seconds` (at least one).
pub fn wav(seconds: u32) -> Vec<u8> {
    let rate: u32 = 8000;
    let samples = rate * seconds.max(1);
    let mut out = Vec::with_capacity(44 + samples as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + samples).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes()); // byte rate
    out.extend_from_slice(&1u16.to_le_bytes()); // block align
    out.extend_from_slice(&8u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&samples.to_le_bytes());
    for i in 0..samples {
        // A quiet 440 Hz tone: unsigned 8-bit around 128.
        let phase = f64::from(i) * 440.0 * std::f64::consts::TAU / f64::from(rate);
        out.push((128.0 + 12.0 * phase.sin()) as u8);
    }
    out
}

/// Bytes of one frame: 144 × bitrate / sample rate.
const MP3_FRAME_BYTES: usize = 144;
/// Samples per MPEG-1 Layer III frame.
const MP3_FRAME_SAMPLES: u32 = 1152;
const MP3_SAMPLE_RATE: u32 = 32_000;

/// An MP3 of `seconds` (at least one) of silence.
pub fn mp3(seconds: u32) -> Vec<u8> {
    let frames = (seconds.max(1) * MP3_SAMPLE_RATE).div_ceil(MP3_FRAME_SAMPLES) as usize;
    let mut out = Vec::with_capacity(frames * MP3_FRAME_BYTES);
    for _ in 0..frames {
        // Sync, MPEG-1, Layer III, no CRC | 32 kbit/s, 32 kHz, no padding | mono.
        out.extend_from_slice(&[0xFF, 0xFB, 0x18, 0xC0]);
        // Side information (17 bytes for mono) and main data, all zero: silence.
        out.extend(std::iter::repeat_n(0u8, MP3_FRAME_BYTES - 4));
    }
    out
}

/// A byte range a request asked for, resolved against a body of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// No usable `Range`: send everything (200).
    Full,
    /// Send `start..=end` (206).
    Partial(usize, usize),
    /// The range lies outside the body (416).
    Unsatisfiable,
}

/// Resolves a `Range: bytes=…` header (one range; the forms `a-b`, `a-`, `-n`).
pub fn resolve_range(header: Option<&str>, len: usize) -> RangeAnswer {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeAnswer::Full;
    };
    if spec.contains(',') || len == 0 {
        return RangeAnswer::Full;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeAnswer::Full;
    };
    let last = len - 1;
    match (
        a.trim().parse::<usize>().ok(),
        b.trim().parse::<usize>().ok(),
    ) {
        (Some(start), _) if start > last => RangeAnswer::Unsatisfiable,
        (Some(start), Some(end)) if end >= start => RangeAnswer::Partial(start, end.min(last)),
        (Some(_), Some(_)) => RangeAnswer::Unsatisfiable,
        (Some(start), None) => RangeAnswer::Partial(start, last),
        (None, Some(n)) if n > 0 => RangeAnswer::Partial(len.saturating_sub(n), last),
        _ => RangeAnswer::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_header_is_valid() {
        let w = wav(2);
        assert_eq!(&w[..4], b"RIFF");
        assert_eq!(&w[8..16], b"WAVEfmt ");
        assert_eq!(
            u32::from_le_bytes([w[4], w[5], w[6], w[7]]) as usize,
            w.len() - 8
        );
        assert_eq!(w.len(), 44 + 16_000);
    }

    #[test]
    fn mp3_is_whole_frames_of_the_right_length() {
        let m = mp3(45);
        assert_eq!(m.len() % MP3_FRAME_BYTES, 0);
        let frames = m.len() / MP3_FRAME_BYTES;
        let seconds = frames as f64 * f64::from(MP3_FRAME_SAMPLES) / f64::from(MP3_SAMPLE_RATE);
        assert!((45.0..45.1).contains(&seconds), "{seconds}");
        assert!(m.chunks(MP3_FRAME_BYTES).all(|f| f[..2] == [0xFF, 0xFB]));
    }

    #[test]
    fn ranges() {
        assert_eq!(resolve_range(None, 100), RangeAnswer::Full);
        assert_eq!(
            resolve_range(Some("bytes=0-9"), 100),
            RangeAnswer::Partial(0, 9)
        );
        assert_eq!(
            resolve_range(Some("bytes=90-"), 100),
            RangeAnswer::Partial(90, 99)
        );
        assert_eq!(
            resolve_range(Some("bytes=-10"), 100),
            RangeAnswer::Partial(90, 99)
        );
        assert_eq!(
            resolve_range(Some("bytes=50-500"), 100),
            RangeAnswer::Partial(50, 99)
        );
        assert_eq!(
            resolve_range(Some("bytes=100-"), 100),
            RangeAnswer::Unsatisfiable
        );
        assert_eq!(
            resolve_range(Some("bytes=9-3"), 100),
            RangeAnswer::Unsatisfiable
        );
        assert_eq!(resolve_range(Some("items=1-2"), 100), RangeAnswer::Full);
    }
}
