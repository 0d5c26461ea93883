import type { Contents } from '@jupyterlab/services';

import { ancestorFolders, detectCard, isMarkdownPath, pickCardFile } from '../cards';
import { readSettings } from '../settings';

function file(path: string, type = 'file'): Contents.IModel {
  const name = path.split('/').pop()!;
  return {
    name,
    path,
    type,
    writable: true,
    created: '',
    last_modified: '',
    mimetype: '',
    content: null,
    format: null
  } as Contents.IModel;
}

/** Creates a contents manager whose `get` lists the given folders. */
function fakeContents(folders: Record<string, Contents.IModel[]>): Contents.IManager {
  return {
    get: jest.fn(async (path: string) => {
      if (!(path in folders)) {
        throw new Error(`not found: ${path}`);
      }
      return { ...file(path, 'directory'), content: folders[path] };
    })
  } as unknown as Contents.IManager;
}

describe('cards', () => {
  it('recognizes Markdown paths', () => {
    expect(isMarkdownPath('a/README.md')).toBe(true);
    expect(isMarkdownPath('card.MARKDOWN')).toBe(true);
    expect(isMarkdownPath('nb.ipynb')).toBe(false);
  });

  it('lists folders up to the root', () => {
    expect(ancestorFolders('a/b')).toEqual(['a/b', 'a', '']);
    expect(ancestorFolders('')).toEqual(['']);
  });

  it('prefers MODEL_CARD.md over README.md', () => {
    const items = [file('x/README.md'), file('x/model_card.md'), file('x/MODEL_CARD.md', 'directory')];
    expect(pickCardFile(items)?.path).toBe('x/model_card.md');
    expect(pickCardFile([file('x/notes.md')])).toBeNull();
  });

  it('detects a card in a parent folder', async () => {
    const contents = fakeContents({
      'project/notebooks': [file('project/notebooks/a.ipynb')],
      project: [file('project/README.md')],
      '': [file('MODEL_CARD.md')]
    });
    expect(await detectCard(contents, 'project/notebooks')).toBe('project/README.md');
  });

  it('skips folders that cannot be listed', async () => {
    const contents = fakeContents({ '': [file('MODEL_CARD.md')] });
    expect(await detectCard(contents, 'gone')).toBe('MODEL_CARD.md');
    expect(await detectCard(fakeContents({}), '')).toBeNull();
  });
});

describe('readSettings', () => {
  it('reads values and replaces invalid ones with defaults', () => {
    expect(
      readSettings({ provider: ' openai ', model: 'm', baseUrl: 7, workers: -2, pollInterval: 50 })
    ).toEqual({ provider: 'openai', model: 'm', baseUrl: '', workers: 0, pollInterval: 200 });
    expect(readSettings({}).pollInterval).toBe(1000);
  });
});
