// The caller's pointer, which travels apart from the screen frames (protocol/src/screen/
// cursor.rs): shapes once per id, kept in a cache that forgets the oldest inserted shape
// exactly as the agent's mirror of it does, and positions relative to the captured area.
// The pointer is drawn on a small canvas laid over the screen canvas and scaled like it; in
// a control session the analyst's own pointer takes the caller's shape over the screen
// instead, so there is one pointer, not two.
//
// Record layout, little-endian:
//   shape    = 0x10 · id u32 · width u16 · height u16 · hot_x u16 · hot_y u16 · RGBA{w·h}
//   position = 0x11 · visible u8 · id u32 · x u16 · y u16

export const TAG_SHAPE = 0x10;
export const TAG_POSITION = 0x11;
// The same limits as the protocol crate.
const MAX_SIDE = 256;
const CACHE = 32;

export class CursorError extends Error {}

/** The tag of a binary record: a frame's version (1) or a cursor record's tag. */
export function recordTag(buffer) {
  return buffer.byteLength ? new Uint8Array(buffer, 0, 1)[0] : -1;
}

/** Parses a cursor record; throws CursorError saying what is wrong. */
export function parseCursor(buffer) {
  const view = new DataView(buffer);
  const tag = recordTag(buffer);
  if (tag === TAG_SHAPE) {
    if (view.byteLength < 13) throw new CursorError("cursor shape ends early");
    const shape = {
      id: view.getUint32(1, true),
      width: view.getUint16(5, true), height: view.getUint16(7, true),
      hotX: view.getUint16(9, true), hotY: view.getUint16(11, true),
    };
    const { width, height, hotX, hotY } = shape;
    if (!width || !height || width > MAX_SIDE || height > MAX_SIDE) throw new CursorError(`bad cursor size ${width}x${height}`);
    if (hotX >= width || hotY >= height) throw new CursorError("cursor hotspot outside its shape");
    if (view.byteLength !== 13 + width * height * 4) throw new CursorError("cursor shape has the wrong length");
    shape.rgba = new Uint8ClampedArray(buffer, 13, width * height * 4);
    return { kind: "shape", shape };
  }
  if (tag === TAG_POSITION) {
    if (view.byteLength !== 10) throw new CursorError("cursor position has the wrong length");
    const visible = view.getUint8(1);
    if (visible > 1) throw new CursorError(`bad cursor visibility ${visible}`);
    return { kind: "position", visible: visible === 1, id: view.getUint32(2, true), x: view.getUint16(6, true), y: view.getUint16(8, true) };
  }
  throw new CursorError(`not a cursor record: tag ${tag}`);
}

/** Draws the caller's pointer over `screen` (the screen canvas) on `overlay`. */
export class CursorOverlay {
  constructor(screen, overlay) {
    this.screen = screen;
    this.overlay = overlay;
    this.ctx = overlay.getContext("2d");
    this.shapes = new Map();
    this.order = [];
    this.position = null;
    this.control = false;
    this.hovering = false;
    this.drawn = null;
    screen.addEventListener("pointerenter", () => { this.hovering = true; this.layout(); });
    screen.addEventListener("pointerleave", () => { this.hovering = false; this.layout(); });
    // The canvas' box changes with the window and with each new canvas size.
    new ResizeObserver(() => this.layout()).observe(screen);
  }

  /** Applies one cursor record (an ArrayBuffer). */
  apply(buffer) {
    const record = parseCursor(buffer);
    if (record.kind === "shape") this.addShape(record.shape);
    else this.position = record.visible ? record : null;
    this.layout();
  }

  addShape(parsed) {
    const canvas = document.createElement("canvas");
    canvas.width = parsed.width;
    canvas.height = parsed.height;
    canvas.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(parsed.rgba), parsed.width, parsed.height), 0, 0);
    const shape = { ...parsed, rgba: undefined, canvas, url: null };
    if (this.shapes.has(parsed.id)) {
      this.forget(this.shapes.get(parsed.id));
    } else {
      if (this.order.length === CACHE) this.forget(this.shapes.get(this.order.shift()));
      this.order.push(parsed.id);
    }
    this.shapes.set(parsed.id, shape);
    // The analyst's pointer needs the shape as an image URL; a blob: one, which only this
    // page's own script can make (the console's CSP allows no other image sources).
    canvas.toBlob((blob) => {
      if (!blob || this.shapes.get(parsed.id) !== shape) return;
      shape.url = URL.createObjectURL(blob);
      this.layout();
    });
  }

  forget(shape) {
    if (shape?.url) URL.revokeObjectURL(shape.url);
    if (shape) this.shapes.delete(shape.id);
  }

  /** Whether the analyst controls the caller's pointer (see the file's comment). */
  setControl(control) {
    this.control = control;
    this.layout();
  }

  /** Puts the pointer where it belongs on the screen canvas as it is scaled now. */
  layout() {
    const shape = this.position && this.shapes.get(this.position.id);
    const ownPointer = this.control && shape?.url;
    this.screen.style.cursor = ownPointer ? `url(${shape.url}) ${shape.hotX} ${shape.hotY}, auto` : "";
    if (!shape || (this.control && this.hovering)) {
      this.overlay.hidden = true;
      this.drawn = null;
      return;
    }
    if (this.drawn !== shape) {
      this.overlay.width = shape.width;
      this.overlay.height = shape.height;
      this.ctx.clearRect(0, 0, shape.width, shape.height);
      this.ctx.drawImage(shape.canvas, 0, 0);
      this.drawn = shape;
    }
    // Placed from the canvas' offset in the box both share, so whatever moves that box
    // (a status line that wraps, a scroll) moves the pointer with the canvas.
    const screen = this.screen;
    const sx = screen.clientWidth / screen.width, sy = screen.clientHeight / screen.height;
    const style = this.overlay.style;
    style.left = `${screen.offsetLeft + screen.clientLeft + (this.position.x - shape.hotX) * sx}px`;
    style.top = `${screen.offsetTop + screen.clientTop + (this.position.y - shape.hotY) * sy}px`;
    style.width = `${shape.width * sx}px`;
    style.height = `${shape.height * sy}px`;
    this.overlay.hidden = false;
  }

  /** What is drawn, for the page's tests: the shape, its hotspot and the position. */
  state() {
    const shape = this.position && this.shapes.get(this.position.id);
    if (!shape) return { visible: false, shapes: this.shapes.size };
    return {
      visible: !this.overlay.hidden, shapes: this.shapes.size, id: shape.id,
      width: shape.width, height: shape.height, hotX: shape.hotX, hotY: shape.hotY,
      x: this.position.x, y: this.position.y,
    };
  }
}
