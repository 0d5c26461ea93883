import { PathExt } from '@jupyterlab/coreutils';
import type { Contents } from '@jupyterlab/services';

/** File names taken as a model card, in order of preference (compared case-insensitively). */
export const CARD_FILE_NAMES: readonly string[] = ['MODEL_CARD.md', 'README.md'];

/** Returns whether `path` names a Markdown file. */
export function isMarkdownPath(path: string): boolean {
  const extension = PathExt.extname(path).toLowerCase();
  return extension === '.md' || extension === '.markdown';
}

/** Returns the folders from `folder` up to the server root (''), nearest first. */
export function ancestorFolders(folder: string): string[] {
  const folders: string[] = [];
  let current = PathExt.removeSlash(folder ?? '');
  for (;;) {
    folders.push(current);
    if (current === '' || current === '.') {
      break;
    }
    const parent = PathExt.dirname(current);
    current = parent === '.' ? '' : parent;
  }
  return folders;
}

/** Returns the preferred card file among a folder listing, or null. */
export function pickCardFile(items: Contents.IModel[]): Contents.IModel | null {
  for (const name of CARD_FILE_NAMES) {
    const match = items.find(
      item => item.type !== 'directory' && item.name.toLowerCase() === name.toLowerCase()
    );
    if (match) {
      return match;
    }
  }
  return null;
}

/**
 * Looks for a model card in `folder`, then in each parent folder up to the
 * server root, through the contents API.
 *
 * @returns the card's path relative to the server root, or null when none of
 *   the folders contains one of {@link CARD_FILE_NAMES}.
 */
export async function detectCard(
  contents: Contents.IManager,
  folder: string
): Promise<string | null> {
  for (const candidate of ancestorFolders(folder)) {
    let listing: Contents.IModel;
    try {
      listing = await contents.get(candidate, { content: true, type: 'directory' });
    } catch {
      // A folder that cannot be listed (deleted, no permission) is skipped.
      continue;
    }
    const items = Array.isArray(listing.content)
      ? (listing.content as Contents.IModel[])
      : [];
    const card = pickCardFile(items);
    if (card) {
      return card.path;
    }
  }
  return null;
}
