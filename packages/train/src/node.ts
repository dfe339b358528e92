// Node entry point (`@mixdepth/train/node`): what a training run needs from Node beside the
// browser-safe kit of ./index.ts. Data parallelism over worker threads, resumable train state
// (the checkpoint folders of the mixdepth CLI: weights, AdamW moments, batch RNG, router
// states, written crash-safely), and router plugin loading. The mixdepth CLI is built on these;
// a library user gets data parallelism and exact resume without it.
export { DataParallel, describeTimings, liveWorkers, machineLoad, MAX_AUTO_RANKS, resolveRanks, splitRows, threadCpuMs } from "./data-parallel.js";
export type { DataParallelFaults, DataParallelOptions, MachineLoad, StepTimings, WorkersSetting } from "./data-parallel.js";
export {
  latestStep,
  loadCheckpoint,
  loadModelCheckpoint,
  restoreTrainState,
  saveCheckpoint,
  saveTrainState,
  stepDirName,
} from "./train-state.js";
export type { CheckpointConfigJSON, CheckpointData, ModelCheckpoint, TrainerStateJSON, TrainStateInfo, TrainStateParts } from "./train-state.js";
export { isPathLike, loadPlugins, PluginError } from "./plugins.js";
// The one crash-safe write helper (it lives with saveModel, in @mixdepth/transformer/node).
export { fsyncDir, resolveCheckpointDir, writeAtomic, writeDurable } from "@mixdepth/transformer/node";
// Types of dependencies that this package's signatures use.
export type { TokenizerJSON } from "@mixdepth/text";
