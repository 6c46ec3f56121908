// What main leaves for post (STATE_* through core.saveState).
import * as core from '@actions/core';

export const getTmpDir = (): string => core.getState('tmpDir');
export const setTmpDir = (dir: string): void => core.saveState('tmpDir', dir);
