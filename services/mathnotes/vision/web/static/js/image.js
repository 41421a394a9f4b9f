// Images in the browser: downscale huge photos before upload, and make small thumbnails.

export const MAX_PIXELS = 4_000_000; // the server sends at most ~2.6 MP upstream; keep some margin
export const MAX_BYTES = 3 * 1024 * 1024;

/** Width and height that fit in `maxPixels`, keeping the aspect ratio (never upscaled). */
export function fitPixels(width, height, maxPixels = MAX_PIXELS) {
  if (width * height <= maxPixels) return { width, height, scale: 1 };
  const scale = Math.sqrt(maxPixels / (width * height));
  return { width: Math.max(1, Math.floor(width * scale)), height: Math.max(1, Math.floor(height * scale)), scale };
}

async function decode(blob) {
  // honours EXIF orientation, so a portrait phone photo stays upright
  return createImageBitmap(blob, { imageOrientation: "from-image" });
}

function toBlob(canvas, type, quality) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("canvas encoding failed"))), type, quality);
  });
}

function draw(bitmap, width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff"; // transparent PNG areas become white paper, not black
  ctx.fillRect(0, 0, width, height);
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(bitmap, 0, 0, width, height);
  return canvas;
}

/**
 * The image to upload: the file itself when it is small enough, else a JPEG
 * within MAX_PIXELS. Formats the browser cannot decode (HEIC in Chrome) go as they are:
 * the server reads them.
 */
export async function prepareUpload(file) {
  let bitmap;
  try {
    bitmap = await decode(file);
  } catch {
    return { blob: file, width: null, height: null, shrunk: false };
  }
  try {
    const { width, height } = bitmap;
    const fit = fitPixels(width, height);
    if (fit.scale === 1 && file.size <= MAX_BYTES) return { blob: file, width, height, shrunk: false };
    const blob = await toBlob(draw(bitmap, fit.width, fit.height), "image/jpeg", 0.9);
    return { blob, width: fit.width, height: fit.height, shrunk: true, from: { width, height } };
  } finally {
    bitmap.close();
  }
}

/** A small JPEG data: URL of the image for the history list (null if it cannot be decoded). */
export async function thumbnail(blob, side = 96) {
  try {
    const bitmap = await decode(blob);
    const scale = Math.min(1, side / Math.max(bitmap.width, bitmap.height));
    const canvas = draw(bitmap, Math.max(1, Math.round(bitmap.width * scale)), Math.max(1, Math.round(bitmap.height * scale)));
    bitmap.close();
    return canvas.toDataURL("image/jpeg", 0.7);
  } catch {
    return null;
  }
}

/** "1.2 MB", "830 KB". */
export function formatBytes(n) {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(n / 1024))} KB`;
}
