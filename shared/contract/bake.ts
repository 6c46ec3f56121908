// What the bake action and `depot bake` agree on: the action reads the definition once (`docker buildx bake
// --print`) and hands the CLI that JSON in a file, so a step runs `--print` once, not in the action and again in
// the CLI.

/** The path of a file holding `docker buildx bake --print`'s JSON for the very flags, source and targets given. */
export const BAKE_DEFINITION_ENV = 'DEPOT_BAKE_DEFINITION';
