//! Drawing the prompt and the bar in memory: a pixel buffer in the X server's 32-bit
//! TrueColor layout, filled rectangles, and text rasterised with fontdue from the system's
//! DejaVu Sans. A prompt whose words cannot be drawn must not be shown at all, so a missing
//! font is an error, never a blank window.

use std::path::PathBuf;

use fontdue::{Font, FontSettings};

/// Where DejaVu Sans lives on Debian and its derivatives (package fonts-dejavu-core).
pub const DEJAVU_SANS: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
/// Its bold face, from the same package; the regular face stands in when it is missing.
pub const DEJAVU_SANS_BOLD: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";

/// Longest text from the console drawn on a line before it is cut, in characters; the
/// console caps these too, this keeps a hostile one from making the agent rasterise megabytes.
const MAX_DRAWN_CHARS: usize = 200;

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

/// A rectangle in window pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

impl Rect {
    pub fn contains(&self, x: i32, y: i32) -> bool {
        x >= self.x && x < self.x + self.width && y >= self.y && y < self.y + self.height
    }

    /// The middle pixel, where a test clicks.
    pub fn centre(&self) -> (i32, i32) {
        (self.x + self.width / 2, self.y + self.height / 2)
    }
}

/// The font files to load: regular, then bold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FontPaths {
    pub regular: PathBuf,
    pub bold: PathBuf,
}

impl Default for FontPaths {
    fn default() -> FontPaths {
        FontPaths {
            regular: PathBuf::from(DEJAVU_SANS),
            bold: PathBuf::from(DEJAVU_SANS_BOLD),
        }
    }
}

/// The loaded faces.
pub(crate) struct Fonts {
    pub(crate) regular: Font,
    pub(crate) bold: Font,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fonts")
    }
}

impl Fonts {
    /// Loads the regular face (required) and the bold one (optional).
    pub(crate) fn load(paths: &FontPaths) -> Option<Fonts> {
        let regular = load_font(&paths.regular)?;
        let bold = load_font(&paths.bold).unwrap_or_else(|| regular.clone());
        Some(Fonts { regular, bold })
    }
}

fn load_font(path: &std::path::Path) -> Option<Font> {
    let bytes = std::fs::read(path)
        .inspect_err(|error| tracing::debug!(path = %path.display(), %error, "font not read"))
        .ok()?;
    Font::from_bytes(bytes, FontSettings::default())
        .inspect_err(|error| tracing::debug!(path = %path.display(), error, "font not parsed"))
        .ok()
}

/// A window's pixels, 4 bytes each in blue, green, red, unused order: the layout of a
/// 24-bit TrueColor visual in 32-bit pixels on a little-endian server, which is what
/// `window::UiWindow` checks before it uploads.
#[derive(Debug)]
pub(crate) struct Canvas {
    pub(crate) width: i32,
    pub(crate) height: i32,
    pub(crate) pixels: Vec<u8>,
}

impl Canvas {
    pub(crate) fn new(width: i32, height: i32, background: Rgb) -> Canvas {
        let pixel_count = usize::try_from(width * height).unwrap_or(0);
        let mut canvas = Canvas {
            width,
            height,
            pixels: vec![0; pixel_count * 4],
        };
        canvas.fill(
            Rect {
                x: 0,
                y: 0,
                width,
                height,
            },
            background,
        );
        canvas
    }

    pub(crate) fn fill(&mut self, rect: Rect, colour: Rgb) {
        for y in rect.y.max(0)..(rect.y + rect.height).min(self.height) {
            for x in rect.x.max(0)..(rect.x + rect.width).min(self.width) {
                self.blend(x, y, colour, 255);
            }
        }
    }

    /// A frame `thickness` pixels wide just inside `rect`.
    pub(crate) fn frame(&mut self, rect: Rect, thickness: i32, colour: Rgb) {
        let Rect {
            x,
            y,
            width,
            height,
        } = rect;
        for (fx, fy, fw, fh) in [
            (x, y, width, thickness),
            (x, y + height - thickness, width, thickness),
            (x, y, thickness, height),
            (x + width - thickness, y, thickness, height),
        ] {
            self.fill(Rect::new(fx, fy, fw, fh), colour);
        }
    }

    /// Draws `text` from `x` on the baseline `baseline` and returns the pen position after
    /// it. Control characters are drawn as spaces, and the text is cut at a sane length.
    pub(crate) fn text(
        &mut self,
        font: &Font,
        size: f32,
        (x, baseline): (i32, i32),
        text: &str,
        colour: Rgb,
    ) -> f32 {
        let mut pen = x as f32;
        for c in sanitise(text) {
            let (metrics, coverage) = font.rasterize(c, size);
            let left = pen.round() as i32 + metrics.xmin;
            let top = baseline - metrics.ymin - metrics.height as i32;
            for (row, line) in coverage.chunks(metrics.width.max(1)).enumerate() {
                for (column, &alpha) in line.iter().enumerate() {
                    self.blend(left + column as i32, top + row as i32, colour, alpha);
                }
            }
            pen += metrics.advance_width;
        }
        pen
    }

    /// Draws `text` centred in `rect`.
    pub(crate) fn centred_text(
        &mut self,
        font: &Font,
        size: f32,
        rect: Rect,
        text: &str,
        colour: Rgb,
    ) {
        let width = text_width(font, size, text);
        let ascent = font
            .horizontal_line_metrics(size)
            .map_or(size * 0.75, |m| m.ascent);
        let x = rect.x + ((rect.width as f32 - width) / 2.0).round() as i32;
        let baseline = rect.y + ((rect.height as f32 + ascent * 0.72) / 2.0).round() as i32;
        self.text(font, size, (x, baseline), text, colour);
    }

    fn blend(&mut self, x: i32, y: i32, colour: Rgb, alpha: u8) {
        if x < 0 || y < 0 || x >= self.width || y >= self.height || alpha == 0 {
            return;
        }
        let index = ((y * self.width + x) * 4) as usize;
        let alpha = u16::from(alpha);
        let mix = |old: u8, new: u8| -> u8 {
            ((u16::from(new) * alpha + u16::from(old) * (255 - alpha)) / 255) as u8
        };
        let pixel = &mut self.pixels[index..index + 4];
        pixel[0] = mix(pixel[0], colour.2);
        pixel[1] = mix(pixel[1], colour.1);
        pixel[2] = mix(pixel[2], colour.0);
    }
}

impl Rect {
    pub const fn new(x: i32, y: i32, width: i32, height: i32) -> Rect {
        Rect {
            x,
            y,
            width,
            height,
        }
    }
}

/// The text's width in pixels.
pub(crate) fn text_width(font: &Font, size: f32, text: &str) -> f32 {
    sanitise(text)
        .map(|c| font.metrics(c, size).advance_width)
        .sum()
}

/// Breaks `text` into at most `max_lines` lines of at most `max_width` pixels at spaces; the
/// last line ends in "…" when text is left over.
pub(crate) fn wrap(
    font: &Font,
    size: f32,
    text: &str,
    max_width: f32,
    max_lines: usize,
) -> Vec<String> {
    let words: Vec<String> = sanitise(text)
        .collect::<String>()
        .split(' ')
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect();
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in words {
        let candidate = if current.is_empty() {
            word.clone()
        } else {
            format!("{current} {word}")
        };
        if text_width(font, size, &candidate) <= max_width || current.is_empty() {
            current = candidate;
            continue;
        }
        lines.push(std::mem::replace(&mut current, word));
        if lines.len() == max_lines {
            current.clear();
            let last = lines.pop().unwrap_or_default();
            lines.push(elide(font, size, &format!("{last} …"), max_width));
            return lines;
        }
    }
    if !current.is_empty() {
        lines.push(elide(font, size, &current, max_width));
    }
    lines
}

/// Cuts `text` to `max_width` pixels, ending in "…" when it had to cut.
pub(crate) fn elide(font: &Font, size: f32, text: &str, max_width: f32) -> String {
    if text_width(font, size, text) <= max_width {
        return text.to_owned();
    }
    let mut kept: String = text.to_owned();
    while !kept.is_empty() && text_width(font, size, &format!("{kept}…")) > max_width {
        kept.pop();
    }
    format!("{}…", kept.trim_end())
}

/// The characters drawn for `text`: control characters become spaces, and at most
/// [`MAX_DRAWN_CHARS`] of them.
fn sanitise(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars()
        .take(MAX_DRAWN_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fonts() -> Fonts {
        Fonts::load(&FontPaths::default()).expect("DejaVu Sans (fonts-dejavu-core) is installed")
    }

    #[test]
    fn text_leaves_ink() {
        let fonts = fonts();
        let mut canvas = Canvas::new(200, 40, Rgb(255, 255, 255));
        let end = canvas.text(&fonts.regular, 16.0, (4, 28), "Allow", Rgb(0, 0, 0));
        assert!(end > 30.0);
        let dark = canvas.pixels.chunks(4).filter(|p| p[0] < 128).count();
        assert!(dark > 50, "only {dark} dark pixels");
    }

    #[test]
    fn long_text_wraps_and_elides() {
        let fonts = fonts();
        let title =
            "the printer on the third floor prints every page twice and then jams ".repeat(5);
        let lines = wrap(&fonts.regular, 15.0, &title, 300.0, 2);
        assert_eq!(lines.len(), 2);
        assert!(lines[1].ends_with('…'));
        for line in &lines {
            assert!(text_width(&fonts.regular, 15.0, line) <= 300.0, "{line}");
        }
    }

    #[test]
    fn a_missing_font_is_none() {
        let paths = FontPaths {
            regular: "/nonexistent/font.ttf".into(),
            bold: "/nonexistent/bold.ttf".into(),
        };
        assert!(Fonts::load(&paths).is_none());
    }
}
