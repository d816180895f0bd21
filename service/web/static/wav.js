// 16-bit PCM WAV encoding of mono Float32 samples, for recordings made in the page.
// The gateway decodes WAV with soundfile, so the plainest header (RIFF, "fmt " PCM, "data") is enough.

/** Joins the Float32Array chunks a recorder collected, keeping at most `limit` samples. */
export function mergeChunks(chunks, limit = Infinity) {
  const total = Math.min(
    chunks.reduce((sum, chunk) => sum + chunk.length, 0),
    limit,
  );
  const samples = new Float32Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    if (offset >= total) break;
    const part = chunk.subarray(0, total - offset);
    samples.set(part, offset);
    offset += part.length;
  }
  return samples;
}

/** A WAV file (Blob, audio/wav) of mono samples in [-1, 1], 16-bit little-endian PCM. */
export function encodeWav(samples, sampleRate) {
  const dataBytes = samples.length * 2;
  const view = new DataView(new ArrayBuffer(44 + dataBytes));
  writeAscii(view, 0, "RIFF");
  view.setUint32(4, 36 + dataBytes, true);
  writeAscii(view, 8, "WAVE");
  writeAscii(view, 12, "fmt ");
  view.setUint32(16, 16, true); // size of the fmt chunk
  view.setUint16(20, 1, true); // format: PCM
  view.setUint16(22, 1, true); // channels
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true); // bytes per second
  view.setUint16(32, 2, true); // bytes per frame
  view.setUint16(34, 16, true); // bits per sample
  writeAscii(view, 36, "data");
  view.setUint32(40, dataBytes, true);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i] || 0));
    view.setInt16(44 + i * 2, Math.round(s < 0 ? s * 0x8000 : s * 0x7fff), true);
  }
  return new Blob([view.buffer], { type: "audio/wav" });
}

function writeAscii(view, offset, text) {
  for (let i = 0; i < text.length; i++) view.setUint8(offset + i, text.charCodeAt(i));
}
