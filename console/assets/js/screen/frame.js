// Screen frames as the agent encodes them (protocol/src/screen): parsed here and drawn onto
// a canvas, with the browser's own decoders only (DecompressionStream for the lossless
// pixels, createImageBitmap for JPEG rectangles). The reference decoder in Rust
// (protocol::screen::Canvas) does exactly what this file does; a difference is a bug.
//
// Frame layout, little-endian:
//   version u8 (1) · flags u8 (1 = key) · width u16 · height u16 · seq u32 · count u16
//   · rect{count} · pixels_len u32 · pixels (deflate-raw of the lossless rectangles' RGB)
//   rect = kind u8 · x u16 · y u16 · w u16 · h u16 · body
//   body = copy: src_x u16 · src_y u16 | fill: r g b | lossless: filter u8 | jpeg: len u32 · bytes

const VERSION = 1;
const FLAG_KEY = 1;
const COPY = 0, FILL = 1, LOSSLESS = 2, JPEG = 3;
const FILTER_NONE = 0, FILTER_LEFT = 1;
// The same limits as the protocol crate: a frame is refused before it can make us allocate.
const MAX_SIDE = 16384;
const MAX_AREA = 3 * 3840 * 2160;
const MAX_RECTS = 16384;
const MAX_FRAME = 32 * 1024 * 1024;

export class FrameError extends Error {}

/** Parses one frame; throws FrameError saying what is wrong. */
export function parseFrame(buffer) {
  if (buffer.byteLength > MAX_FRAME) throw new FrameError(`frame too large: ${buffer.byteLength} bytes`);
  const view = new DataView(buffer);
  let at = 0;
  const need = (n, what) => { if (at + n > view.byteLength) throw new FrameError(`frame ends early, in ${what}`); };
  const u8 = (what) => { need(1, what); return view.getUint8(at++); };
  const u16 = (what) => { need(2, what); const v = view.getUint16(at, true); at += 2; return v; };
  const u32 = (what) => { need(4, what); const v = view.getUint32(at, true); at += 4; return v; };

  const version = u8("the version");
  if (version !== VERSION) throw new FrameError(`frame version ${version} is not supported`);
  const flags = u8("the flags");
  if (flags & ~FLAG_KEY) throw new FrameError(`unknown frame flags ${flags}`);
  const width = u16("the width"), height = u16("the height");
  if (!width || !height || width > MAX_SIDE || height > MAX_SIDE || width * height > MAX_AREA) {
    throw new FrameError(`bad screen size ${width}x${height}`);
  }
  const seq = u32("the sequence number");
  const count = u16("the rectangle count");
  if (count > MAX_RECTS) throw new FrameError(`too many rectangles: ${count}`);
  const updates = [];
  let losslessBytes = 0;
  for (let i = 0; i < count; i++) {
    const kind = u8("a rectangle kind");
    const rect = { x: u16("a rectangle"), y: u16("a rectangle"), w: u16("a rectangle"), h: u16("a rectangle") };
    const fits = (x, y) => rect.w > 0 && rect.h > 0 && x + rect.w <= width && y + rect.h <= height;
    if (!fits(rect.x, rect.y)) throw new FrameError(`rectangle ${i} outside the screen`);
    if (kind === COPY) {
      const sx = u16("a copy source"), sy = u16("a copy source");
      if (!fits(sx, sy)) throw new FrameError(`copy ${i} reads outside the screen`);
      updates.push({ kind, rect, sx, sy });
    } else if (kind === FILL) {
      updates.push({ kind, rect, rgb: [u8("a colour"), u8("a colour"), u8("a colour")] });
    } else if (kind === LOSSLESS) {
      const filter = u8("a filter");
      if (filter !== FILTER_NONE && filter !== FILTER_LEFT) throw new FrameError(`unknown filter ${filter}`);
      losslessBytes += rect.w * rect.h * 3;
      if (losslessBytes > 2 * width * height * 3) throw new FrameError("lossless rectangles too large");
      updates.push({ kind, rect, filter });
    } else if (kind === JPEG) {
      const len = u32("a JPEG length");
      need(len, "a JPEG");
      updates.push({ kind, rect, data: new Uint8Array(buffer, at, len) });
      at += len;
    } else {
      throw new FrameError(`rectangle ${i} has unknown kind ${kind}`);
    }
  }
  const pixelsLen = u32("the pixel stream length");
  need(pixelsLen, "the pixel stream");
  const pixels = new Uint8Array(buffer, at, pixelsLen);
  at += pixelsLen;
  if (at !== view.byteLength) throw new FrameError(`${view.byteLength - at} trailing bytes`);
  return { key: (flags & FLAG_KEY) !== 0, width, height, seq, updates, pixels, losslessBytes };
}

/** Inflates a raw deflate stream to exactly `expected` bytes. */
async function inflate(bytes, expected) {
  if (expected === 0 && bytes.length === 0) return new Uint8Array(0);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  const out = new Uint8Array(expected);
  let filled = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (filled + value.length > expected) {
      reader.cancel();
      throw new FrameError("pixel stream inflates to more than its rectangles need");
    }
    out.set(value, filled);
    filled += value.length;
  }
  if (filled !== expected) throw new FrameError(`pixel stream inflates to ${filled} bytes, ${expected} expected`);
  return out;
}

/** Draws frames onto `canvas` (whose size follows the key frames). */
export class ScreenCanvas {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d", { alpha: false, willReadFrequently: false });
    this.ready = false;
  }

  /** Applies one frame (an ArrayBuffer); resolves once it is drawn. */
  async apply(buffer) {
    const frame = parseFrame(buffer);
    if (frame.key) {
      this.canvas.width = frame.width;
      this.canvas.height = frame.height;
      this.ctx.fillStyle = "#000";
      this.ctx.fillRect(0, 0, frame.width, frame.height);
      this.ready = true;
    } else if (!this.ready || frame.width !== this.canvas.width || frame.height !== this.canvas.height) {
      throw new FrameError("delta frame without its key frame");
    }
    // Decode everything first (inflating and JPEG decoding are asynchronous), then draw in
    // order, so that a copy sees exactly the rectangles that came before it.
    const pixels = await inflate(frame.pixels, frame.losslessBytes);
    const bitmaps = await Promise.all(frame.updates.map((u) =>
      u.kind === JPEG ? createImageBitmap(new Blob([u.data], { type: "image/jpeg" })) : null));
    let offset = 0;
    frame.updates.forEach((u, i) => {
      const { x, y, w, h } = u.rect;
      if (u.kind === COPY) {
        // Drawing a canvas onto itself copies the source first, so overlaps are safe.
        this.ctx.drawImage(this.canvas, u.sx, u.sy, w, h, x, y, w, h);
      } else if (u.kind === FILL) {
        this.ctx.fillStyle = `rgb(${u.rgb[0]},${u.rgb[1]},${u.rgb[2]})`;
        this.ctx.fillRect(x, y, w, h);
      } else if (u.kind === LOSSLESS) {
        const image = this.ctx.createImageData(w, h);
        const rgba = image.data;
        const stride = w * 3;
        for (let row = 0; row < h; row++) {
          let src = offset + row * stride;
          let dst = row * w * 4;
          let r = 0, g = 0, b = 0;
          for (let col = 0; col < w; col++, src += 3, dst += 4) {
            if (u.filter === FILTER_LEFT && col > 0) {
              r = (r + pixels[src]) & 255; g = (g + pixels[src + 1]) & 255; b = (b + pixels[src + 2]) & 255;
            } else {
              r = pixels[src]; g = pixels[src + 1]; b = pixels[src + 2];
            }
            rgba[dst] = r; rgba[dst + 1] = g; rgba[dst + 2] = b; rgba[dst + 3] = 255;
          }
        }
        offset += h * stride;
        this.ctx.putImageData(image, x, y);
      } else {
        this.ctx.drawImage(bitmaps[i], x, y, w, h);
        bitmaps[i].close();
      }
    });
    return frame;
  }
}
