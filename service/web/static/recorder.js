// Microphone recording: getUserMedia -> AudioContext -> AudioWorklet -> Float32 chunks -> WAV blob.
import { encodeWav, mergeChunks } from "./wav.js";

const PREFERRED_RATE = 16000; // what the speech models use; the gateway resamples anything else

/** Whether this page may record: needs getUserMedia (HTTPS or localhost) and AudioWorklet. */
export function recordingSupported() {
  return Boolean(navigator.mediaDevices?.getUserMedia) && typeof AudioWorkletNode === "function";
}

/** One recording at a time. `onProgress(seconds)` while it runs; `onLimit()` once `maxSeconds` is reached. */
export class Recorder {
  #stream = null;
  #context = null;
  #chunks = [];
  #frames = 0;

  constructor({ maxSeconds = 30, onProgress = () => {}, onLimit = () => {} } = {}) {
    this.maxSeconds = maxSeconds;
    this.onProgress = onProgress;
    this.onLimit = onLimit;
  }

  get seconds() {
    return this.#context ? this.#frames / this.#context.sampleRate : 0;
  }

  async start() {
    this.#stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    try {
      const source = this.#openContext();
      const context = this.#context;
      await context.audioWorklet.addModule(new URL("./recorder-worklet.js", import.meta.url));
      const node = new AudioWorkletNode(context, "pcm-recorder", {
        numberOfInputs: 1,
        numberOfOutputs: 1,
        channelCount: 1,
        channelCountMode: "explicit", // the engine down-mixes stereo microphones to mono
      });
      node.port.onmessage = (event) => this.#collect(event.data);
      // The node writes silence; connecting it to the destination keeps it pulled by the graph.
      source.connect(node).connect(context.destination);
      await context.resume();
    } catch (err) {
      this.#release();
      throw err;
    }
  }

  /** Ends the recording; resolves to the WAV blob (at most `maxSeconds` long). */
  async stop() {
    const rate = this.#context ? this.#context.sampleRate : PREFERRED_RATE;
    this.#release();
    const samples = mergeChunks(this.#chunks, Math.floor(this.maxSeconds * rate));
    this.#chunks = [];
    this.#frames = 0;
    return { blob: encodeWav(samples, rate), seconds: samples.length / rate };
  }

  #openContext() {
    // Ask for 16 kHz; browsers that cannot feed a microphone into a context of another rate get their own rate.
    try {
      this.#context = new AudioContext({ sampleRate: PREFERRED_RATE });
      return this.#context.createMediaStreamSource(this.#stream);
    } catch {
      this.#context?.close();
      this.#context = new AudioContext();
      return this.#context.createMediaStreamSource(this.#stream);
    }
  }

  #collect(chunk) {
    if (!this.#context) return;
    const before = this.seconds;
    this.#chunks.push(chunk);
    this.#frames += chunk.length;
    this.onProgress(this.seconds);
    if (before < this.maxSeconds && this.seconds >= this.maxSeconds) this.onLimit();
  }

  #release() {
    this.#stream?.getTracks().forEach((track) => track.stop());
    this.#context?.close();
    this.#stream = null;
    this.#context = null;
  }
}
