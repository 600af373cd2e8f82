// Live sources: a video file or a capture device (webcam, a probe's capture card) in a <video>
// element. Each new frame the browser presents is grabbed, segmented and drawn; a frame that
// arrives while the previous one is still being processed is skipped, so the overlay follows
// the source in real time instead of falling behind. The rate shown counts drawn overlays.

export class LiveSource {
  /**
   * @param {HTMLVideoElement} video
   * @param {(frame: {width, height, gray, name}) => Promise<void>} process segments and draws
   * @param {(fps: number) => void} onRate
   */
  constructor(video, process, onRate) {
    this.video = video;
    this.process = process;
    this.onRate = onRate;
    this.busy = false;
    this.missed = false;
    this.stamps = [];
    this.stream = null;
    this.name = "video";
    this.frameNumber = 0;
    this.canvas = document.createElement("canvas");
    this.context = this.canvas.getContext("2d", { willReadFrequently: true });
    this.running = false;
  }

  async openFile(file) {
    this.stop();
    this.name = file.name.replace(/\.[^.]*$/, "");
    this.video.srcObject = null;
    const loaded = new Promise((resolve, reject) => {
      this.video.onloadeddata = resolve;
      this.video.onerror = () =>
        reject(new Error(this.video.error?.message || "the browser cannot decode it"));
    });
    this.video.src = URL.createObjectURL(file);
    this.video.loop = false;
    await loaded;
    this.listen();
    await this.grab();
  }

  async openCamera(deviceId) {
    this.stop();
    this.name = "camera";
    this.stream = await navigator.mediaDevices.getUserMedia({
      video: deviceId ? { deviceId: { exact: deviceId } } : true,
      audio: false,
    });
    this.video.srcObject = this.stream;
    await this.video.play();
    this.listen();
  }

  /** The same frames from any MediaStream (a canvas's captureStream in the benchmark). */
  async openStream(stream, name = "stream") {
    this.stop();
    this.name = name;
    this.stream = stream;
    this.video.srcObject = stream;
    await this.video.play();
    this.listen();
  }

  listen() {
    this.running = true;
    const next = () => {
      if (!this.running) return;
      if (this.video.requestVideoFrameCallback) this.video.requestVideoFrameCallback(tick);
      else requestAnimationFrame(tick);
    };
    const tick = () => {
      if (this.busy) this.missed = true;
      else if (!this.video.paused) this.grab();
      next();
    };
    next();
  }

  /** Segment and draw the frame the video shows now; skipped while one is in flight. */
  async grab() {
    const { videoWidth: width, videoHeight: height } = this.video;
    if (this.busy || !width || !height) return;
    this.busy = true;
    try {
      if (this.canvas.width !== width || this.canvas.height !== height) {
        this.canvas.width = width;
        this.canvas.height = height;
      }
      this.context.drawImage(this.video, 0, 0, width, height);
      const rgba = this.context.getImageData(0, 0, width, height).data;
      this.frameNumber++;
      const time = this.stream ? this.frameNumber : Math.round(this.video.currentTime * 1000);
      const name = `${this.name}_${String(time).padStart(6, "0")}${this.stream ? "" : "ms"}`;
      await this.process({ width, height, rgba, name });
      const now = performance.now();
      this.stamps.push(now);
      while (this.stamps.length && this.stamps[0] < now - 1000) this.stamps.shift();
      this.onRate(this.stamps.length);
    } finally {
      this.busy = false;
    }
    // A frame came while this one was processed: take the newest now rather than waiting up
    // to a frame interval for the next callback.
    if (this.missed && this.running && !this.video.paused) {
      this.missed = false;
      setTimeout(() => this.grab(), 0);
    }
  }

  toggle() {
    if (this.video.paused) this.video.play();
    else this.video.pause();
    return !this.video.paused;
  }

  /** Step a paused video file by `frames` (at 30 frames/s) and process that frame. */
  async step(frames) {
    if (this.stream) return;
    this.video.pause();
    const seeked = new Promise((resolve) => this.video.addEventListener("seeked", resolve, { once: true }));
    this.video.currentTime = Math.max(0, this.video.currentTime + frames / 30);
    await seeked;
    await this.grab();
  }

  stop() {
    this.running = false;
    this.video.pause();
    for (const track of this.stream?.getTracks() || []) track.stop();
    this.stream = null;
    this.stamps = [];
    this.frameNumber = 0;
  }
}
