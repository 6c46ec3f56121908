import { describe, expect, it } from 'vitest';
import { parseBuildRef } from './saved';

describe('parseBuildRef', () => {
  it('takes a build id or the depot.build object of a metadata file', () => {
    expect(parseBuildRef('abc123')).toEqual({ buildID: 'abc123' });
    expect(parseBuildRef('{"buildID":"abc123","projectID":"web","isolated":false}')).toEqual({
      buildID: 'abc123',
      projectID: 'web',
    });
  });

  it.each([
    ['{"projectID":"web"}', 'has no "buildID"'],
    ['{oops', 'not valid JSON'],
    ['bad id!', 'is not a build id'],
  ])('refuses %s', (word, message) => {
    expect(() => parseBuildRef(word)).toThrow(message);
  });
});
