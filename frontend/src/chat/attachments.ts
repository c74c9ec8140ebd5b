/** Images attached to a prompt: which files are accepted and how they travel (the protocol's
 * `prompt.images`: base64 and a media type). Bounded so a prompt stays well inside the
 * gateway's frame limit (16 MiB; base64 adds a third). */

export const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"] as const;
export const MAX_IMAGE_BYTES = 5 * 1024 * 1024;
export const MAX_IMAGES_BYTES = 10 * 1024 * 1024;
export const MAX_IMAGES = 8;

export interface Attachment {
  id: string;
  name: string;
  mediaType: string;
  /** Base64 of the file's bytes. */
  data: string;
  bytes: number;
}

/** Why a file cannot join the attachments already there, or null when it can. */
export function refusal(file: { name: string; type: string; size: number }, attached: Attachment[]): string | null {
  if (!(IMAGE_TYPES as readonly string[]).includes(file.type)) {
    return `${file.name}: only PNG, JPEG, GIF and WebP images can be attached`;
  }
  if (file.size === 0) return `${file.name}: the file is empty`;
  if (file.size > MAX_IMAGE_BYTES) return `${file.name}: larger than ${MAX_IMAGE_BYTES / 1024 / 1024} MiB`;
  if (attached.length >= MAX_IMAGES) return `at most ${MAX_IMAGES} images per message`;
  const total = attached.reduce((sum, a) => sum + a.bytes, 0) + file.size;
  if (total > MAX_IMAGES_BYTES) return `the images of one message may take ${MAX_IMAGES_BYTES / 1024 / 1024} MiB in all`;
  return null;
}

/** The data URL that shows an attachment (only the accepted types get one). */
export function dataUrl(mediaType: string, data: string): string | null {
  return (IMAGE_TYPES as readonly string[]).includes(mediaType) ? `data:${mediaType};base64,${data}` : null;
}

/** The prompt's `images` field. */
export function promptImages(attachments: Attachment[]): { data: string; media_type: string }[] {
  return attachments.map((a) => ({ data: a.data, media_type: a.mediaType }));
}
