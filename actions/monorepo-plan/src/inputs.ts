// actions/monorepo-plan inputs, keyed by the action.yml names, read once; which mode needs which is checked here.
import { getBoolean, getChoice, getList, getString } from '../../../shared/inputs';
import { UserError } from '../../../shared/errors';

export type Mode = 'plan' | 'record' | 'gather';

export interface Inputs {
  mode: Mode;
  /** (plan) Image directories, one per line. */
  images: string[];
  /** (plan) Bake files (one, or one per line). */
  'bake-file': string[];
  /** (plan) The default platforms. */
  platforms: string[];
  /** (plan) Registry host and path, no trailing slash. */
  registry: string;
  'tag-prefix': string;
  all: boolean;
  /** (record) */
  name: string;
  target: string;
  metadata: string;
  /** (gather) The plan's matrix JSON. */
  plan: string;
}

export function getInputs(): Inputs {
  const mode = getChoice('mode', ['plan', 'record', 'gather'] as const, { fallback: 'plan' }) || 'plan';
  const inputs: Inputs = {
    mode,
    images: getList('images', { ignoreComma: true }),
    'bake-file': getList('bake-file', { ignoreComma: true }),
    platforms: getList('platforms'),
    registry: getString('registry').trim().replace(/\/+$/, ''),
    'tag-prefix': getString('tag-prefix').trim(),
    all: getBoolean('all'),
    name: getString('name').trim(),
    target: getString('target').trim(),
    metadata: getString('metadata'),
    plan: getString('plan'),
  };
  check(inputs);
  return inputs;
}

/** The preconditions of each mode, each failure one line that says what to set. */
export function check(inputs: Inputs): void {
  if (inputs.mode === 'plan') {
    const images = inputs.images.length > 0;
    const bake = inputs['bake-file'].length > 0;
    if (images === bake) {
      throw new UserError(
        images
          ? 'Set either `images` or `bake-file`, not both: the images are the directories listed or the bake targets.'
          : 'Set `images` (image directories, one per line) or `bake-file` (a bake file whose targets are the images).',
      );
    }
    if (inputs.registry && /\s|:\/\//.test(inputs.registry)) {
      throw new UserError(
        `Input \`registry\` must be a registry host and path such as ghcr.io/acme, got "${inputs.registry}".`,
      );
    }
  }
  if (inputs.mode === 'record' && !inputs.name) {
    throw new UserError('Input `name` is required in record mode: pass the image name (matrix.name).');
  }
}
